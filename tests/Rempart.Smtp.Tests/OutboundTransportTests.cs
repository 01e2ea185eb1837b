using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Smtp.Outbound;
using Rempart.Smtp.Routing;
using Rempart.Store;

namespace Rempart.Smtp.Tests;

public class OutboundTransportTests
{
    private const string Message = "From: alice@sender.test\r\nTo: bob@dest.test\r\nSubject: hello\r\nMessage-Id: <m1@sender.test>\r\n\r\nHello Bob.\r\n.leading dot line\r\n";

    internal static RempartOptions SinkOptions(OutboundTestSink sink, string tls = "opportunistic", bool insecure = false, string? user = null, string? password = null)
    {
        var options = new RempartOptions { HostName = "mx.rempart.test" };
        options.Queue.ConnectTimeout = TimeSpan.FromSeconds(10);
        options.Routes.Add(new RouteOptions
        {
            Name = "sink",
            SmartHost = $"127.0.0.1:{sink.Port}",
            Domains = ["*"],
            Tls = tls,
            InsecureSkipVerify = insecure,
            Username = user,
            Password = password,
        });
        return options;
    }

    private static SmtpOutboundTransport Transport(RempartOptions options, IMxResolver? mx = null) =>
        new(options, new RouteTable(options), mx ?? new FixedMxResolver(MxResult.Fail(MxStatus.TemporaryFailure, "no DNS in unit tests")), TimeProvider.System, NullLoggerFactory.Instance);

    private static DeliveryRequest Request(string sender, params QueueRecipient[] recipients) =>
        new("dest.test", sender, recipients, () => new MemoryStream(Encoding.ASCII.GetBytes(Message)));

    [Fact]
    public async Task Delivers_through_a_smart_host_and_reports_each_recipient()
    {
        await using var sink = new OutboundTestSink();
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test"), new QueueRecipient("carol@dest.test")));

        Assert.All(report.Recipients, r => Assert.Equal(RecipientOutcome.Delivered, r.Outcome));
        Assert.Equal("127.0.0.1", report.RemoteMta);
        var received = Assert.Single(sink.Messages);
        Assert.StartsWith("MAIL FROM:<alice@sender.test>", received.MailFrom, StringComparison.Ordinal);
        Assert.Equal(2, received.RcptTo.Count);
        Assert.Contains("Subject: hello", received.Data);
        Assert.Contains("\r\n.leading dot line\r\n", received.Data);
    }

    [Fact]
    public async Task Partial_acceptance_is_reported_per_recipient()
    {
        await using var sink = new OutboundTestSink { RcptReply = a => a.StartsWith("bad", StringComparison.Ordinal) ? "550 5.1.1 no such user" : a.StartsWith("later", StringComparison.Ordinal) ? "451 4.2.1 try later" : "250 2.1.5 OK" };
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("good@dest.test"), new QueueRecipient("bad@dest.test"), new QueueRecipient("later@dest.test")));

        var byAddress = report.Recipients.ToDictionary(r => r.Address);
        Assert.Equal(RecipientOutcome.Delivered, byAddress["good@dest.test"].Outcome);
        Assert.Equal(RecipientOutcome.Permanent, byAddress["bad@dest.test"].Outcome);
        Assert.Equal("5.1.1", byAddress["bad@dest.test"].Status);
        Assert.Equal(550, byAddress["bad@dest.test"].Code);
        Assert.Contains("no such user", byAddress["bad@dest.test"].Diagnostic);
        Assert.Equal(RecipientOutcome.Temporary, byAddress["later@dest.test"].Outcome);
        Assert.Equal("4.2.1", byAddress["later@dest.test"].Status);
        Assert.Single(Assert.Single(sink.Messages).RcptTo);
    }

    [Fact]
    public async Task When_no_recipient_is_accepted_each_gets_its_own_reply_and_no_data_is_sent()
    {
        await using var sink = new OutboundTestSink { RcptReply = a => a.StartsWith('x') ? "550 5.1.1 unknown" : "452 4.5.3 too many" };
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("x@dest.test"), new QueueRecipient("y@dest.test")));

        Assert.Equal(RecipientOutcome.Permanent, report.Recipients[0].Outcome);
        Assert.Equal(RecipientOutcome.Temporary, report.Recipients[1].Outcome);
        Assert.Empty(sink.Messages);
        Assert.DoesNotContain("DATA", sink.Commands);
    }

    [Fact]
    public async Task A_rejection_after_data_applies_to_every_accepted_recipient()
    {
        await using var sink = new OutboundTestSink { DataReply = () => "554 5.6.0 content rejected" };
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test"), new QueueRecipient("carol@dest.test")));

        Assert.All(report.Recipients, r =>
        {
            Assert.Equal(RecipientOutcome.Permanent, r.Outcome);
            Assert.Equal("5.6.0", r.Status);
        });
    }

    [Fact]
    public async Task The_null_sender_is_sent_as_empty_reverse_path()
    {
        await using var sink = new OutboundTestSink();
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.StartsWith("MAIL FROM:<>", Assert.Single(sink.Messages).MailFrom, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dsn_parameters_are_passed_on_when_the_peer_supports_dsn()
    {
        await using var sink = new OutboundTestSink(dsn: true);
        await using var transport = Transport(SinkOptions(sink));
        var request = Request("alice@sender.test", new QueueRecipient("bob@dest.test", "SUCCESS,FAILURE")) with { EnvelopeId = "ENV 1", Ret = "HDRS" };

        var report = await transport.DeliverAsync(request);

        Assert.True(report.PeerSupportsDsn);
        var received = Assert.Single(sink.Messages);
        Assert.Contains("ENVID=ENV+201", received.MailFrom);
        Assert.Contains("RET=HDRS", received.MailFrom);
        Assert.Contains("NOTIFY=SUCCESS,FAILURE", received.RcptTo[0]);
        Assert.Contains("ORCPT=rfc822;bob@dest.test", received.RcptTo[0]);
    }

    [Fact]
    public async Task Dsn_parameters_are_not_sent_to_a_peer_without_dsn()
    {
        await using var sink = new OutboundTestSink(dsn: false);
        await using var transport = Transport(SinkOptions(sink));
        var request = Request("alice@sender.test", new QueueRecipient("bob@dest.test", "SUCCESS")) with { EnvelopeId = "E1", Ret = "FULL" };

        var report = await transport.DeliverAsync(request);

        Assert.False(report.PeerSupportsDsn);
        var received = Assert.Single(sink.Messages);
        Assert.DoesNotContain("ENVID", received.MailFrom);
        Assert.DoesNotContain("NOTIFY", received.RcptTo[0]);
    }

    [Fact]
    public async Task Required_tls_refuses_a_peer_without_starttls_and_never_sends_in_plaintext()
    {
        await using var sink = new OutboundTestSink(startTls: false);
        await using var transport = Transport(SinkOptions(sink, tls: "required"));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        var result = Assert.Single(report.Recipients);
        Assert.Equal(RecipientOutcome.Temporary, result.Outcome);
        Assert.Equal("4.7.4", result.Status);
        Assert.Contains("STARTTLS", result.Diagnostic);
        Assert.DoesNotContain(sink.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Required_tls_with_verification_refuses_an_untrusted_certificate()
    {
        await using var sink = new OutboundTestSink(startTls: true);
        await using var transport = Transport(SinkOptions(sink, tls: "required"));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        var result = Assert.Single(report.Recipients);
        Assert.Equal(RecipientOutcome.Temporary, result.Outcome);
        Assert.StartsWith("4.7.", result.Status, StringComparison.Ordinal);
        Assert.DoesNotContain(sink.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Required_tls_without_verification_delivers_over_tls()
    {
        await using var sink = new OutboundTestSink(startTls: true);
        await using var transport = Transport(SinkOptions(sink, tls: "required", insecure: true));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.True(Assert.Single(sink.Messages).Tls);
    }

    [Fact]
    public async Task Opportunistic_tls_uses_starttls_when_offered_with_any_certificate()
    {
        await using var sink = new OutboundTestSink(startTls: true);
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.True(Assert.Single(sink.Messages).Tls);
    }

    [Fact]
    public async Task Implicit_tls_speaks_tls_from_the_first_byte()
    {
        await using var sink = new OutboundTestSink(implicitTls: true);
        await using var transport = Transport(SinkOptions(sink, tls: "implicit", insecure: true));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.True(Assert.Single(sink.Messages).Tls);
    }

    [Fact]
    public async Task A_failed_opportunistic_handshake_falls_back_to_plaintext()
    {
        await using var sink = new OutboundTestSink(startTls: true) { BrokenTls = true };
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.False(Assert.Single(sink.Messages).Tls);
        Assert.Equal(2, sink.Connections);
    }

    [Fact]
    public async Task A_failed_required_handshake_never_falls_back()
    {
        await using var sink = new OutboundTestSink(startTls: true) { BrokenTls = true };
        await using var transport = Transport(SinkOptions(sink, tls: "required", insecure: true));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Temporary, Assert.Single(report.Recipients).Outcome);
        Assert.Empty(sink.Messages);
        Assert.Equal(1, sink.Connections);
    }

    [Fact]
    public async Task Smart_host_authentication_uses_the_route_credentials()
    {
        await using var sink = new OutboundTestSink(startTls: true, authUser: "relayuser", authPassword: "s3cret");
        await using var transport = Transport(SinkOptions(sink, tls: "required", insecure: true, user: "relayuser", password: "s3cret"));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.Equal("relayuser", Assert.Single(sink.Messages).AuthUser);
    }

    [Fact]
    public async Task The_protocol_log_masks_auth_secrets()
    {
        await using var sink = new OutboundTestSink(startTls: true, authUser: "relayuser", authPassword: "s3cret");
        var options = SinkOptions(sink, tls: "required", insecure: true, user: "relayuser", password: "s3cret");
        options.Logging.Protocol = true;
        var logs = new OutboundCapturingLoggerFactory();
        await using var transport = new SmtpOutboundTransport(options, new RouteTable(options), new FixedMxResolver(MxResult.Fail(MxStatus.TemporaryFailure, "-")), TimeProvider.System, logs);

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        var transcript = string.Join("\n", logs.Lines);
        Assert.Contains("AUTH PLAIN", transcript);
        Assert.Contains("RCPT TO:<bob@dest.test>", transcript);
        var secret = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0relayuser\0s3cret"));
        Assert.DoesNotContain(secret, transcript);
        Assert.DoesNotContain("s3cret", transcript);
    }

    [Fact]
    public async Task Wrong_smart_host_credentials_are_a_temporary_failure()
    {
        await using var sink = new OutboundTestSink(startTls: true, authUser: "relayuser", authPassword: "s3cret");
        await using var transport = Transport(SinkOptions(sink, tls: "required", insecure: true, user: "relayuser", password: "wrong"));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        var result = Assert.Single(report.Recipients);
        Assert.Equal(RecipientOutcome.Temporary, result.Outcome);
        Assert.DoesNotContain("wrong", result.Diagnostic);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Several_messages_to_one_host_share_one_connection()
    {
        await using var sink = new OutboundTestSink();
        await using var transport = Transport(SinkOptions(sink));

        for (var i = 0; i < 5; i++)
        {
            var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient($"user{i}@dest.test")));
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        }

        Assert.Equal(5, sink.Messages.Count);
        Assert.Equal(1, sink.Connections);
        Assert.Equal(1, transport.ConnectionsOpened);
    }

    [Fact]
    public async Task A_pooled_connection_closed_by_the_peer_is_replaced_transparently()
    {
        await using var sink = new OutboundTestSink { CloseAfterMessage = true };
        await using var transport = Transport(SinkOptions(sink));

        for (var i = 0; i < 3; i++)
        {
            var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient($"user{i}@dest.test")));
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        }

        Assert.Equal(3, sink.Messages.Count);
        Assert.Equal(3, sink.Connections);
    }

    [Fact]
    public async Task A_refused_connection_is_a_temporary_failure()
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var options = new RempartOptions();
        options.Queue.ConnectTimeout = TimeSpan.FromSeconds(5);
        options.Routes.Add(new RouteOptions { Name = "dead", SmartHost = $"127.0.0.1:{port}", Domains = ["*"] });
        await using var transport = Transport(options);

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        var result = Assert.Single(report.Recipients);
        Assert.Equal(RecipientOutcome.Temporary, result.Outcome);
        Assert.Contains("cannot connect", result.Diagnostic);
    }

    [Fact]
    public async Task A_421_greeting_is_a_temporary_failure()
    {
        await using var sink = new OutboundTestSink { RefuseWith = "421 4.3.2 too busy" };
        await using var transport = Transport(SinkOptions(sink));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Temporary, Assert.Single(report.Recipients).Outcome);
    }

    [Fact]
    public async Task Mx_delivery_tries_hosts_in_order_and_skips_a_dead_one()
    {
        await using var sink = new OutboundTestSink();
        var options = new RempartOptions { HostName = "mx.rempart.test" };
        options.Queue.MxPort = sink.Port;
        options.Queue.ConnectTimeout = TimeSpan.FromSeconds(5);

        // 127.0.0.2 is loopback too, but nothing listens there on the sink's port: connection refused, next host.
        var mx = new FixedMxResolver(new MxResult(MxStatus.Ok,
            [new MxHost("dead.dest.test", 5, [IPAddress.Parse("127.0.0.2")]), new MxHost("mx.dest.test", 10, [IPAddress.Loopback])], null));
        await using var transport = Transport(options, mx);

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.Equal("mx.dest.test", report.RemoteMta);
    }

    [Fact]
    public async Task Mx_delivery_reaches_an_ipv6_only_host()
    {
        await using var sink = new OutboundTestSink(bind: IPAddress.IPv6Loopback);
        var options = new RempartOptions { HostName = "mx.rempart.test" };
        options.Queue.MxPort = sink.Port;
        var mx = new FixedMxResolver(new MxResult(MxStatus.Ok, [new MxHost("v6.dest.test", 10, [IPAddress.IPv6Loopback])], null));
        await using var transport = Transport(options, mx);

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(report.Recipients).Outcome);
        Assert.Single(sink.Messages);
    }

    [Theory]
    [InlineData(MxStatus.NullMx, RecipientOutcome.Permanent, "5.1.10")]
    [InlineData(MxStatus.NoSuchDomain, RecipientOutcome.Permanent, "5.1.2")]
    [InlineData(MxStatus.TemporaryFailure, RecipientOutcome.Temporary, "4.4.3")]
    public async Task Dns_answers_map_to_permanent_or_temporary_failures(MxStatus status, RecipientOutcome outcome, string code)
    {
        var options = new RempartOptions();
        await using var transport = Transport(options, new FixedMxResolver(MxResult.Fail(status, "test")));

        var report = await transport.DeliverAsync(Request("alice@sender.test", new QueueRecipient("bob@dest.test")));

        Assert.Equal(outcome, Assert.Single(report.Recipients).Outcome);
        Assert.Equal(code, report.Recipients[0].Status);
    }
}

/// <summary>Collects formatted log lines.</summary>
internal sealed class OutboundCapturingLoggerFactory : Microsoft.Extensions.Logging.ILoggerFactory
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(Lines);

    public void Dispose()
    {
    }

    private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<string> lines) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(formatter(state, exception));
    }
}
