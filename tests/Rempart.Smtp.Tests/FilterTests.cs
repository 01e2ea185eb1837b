using Rempart.Smtp.Filters;

namespace Rempart.Smtp.Tests;

public class FilterTests
{
    private sealed class ScriptedFilter : IMessageFilter
    {
        public FilterVerdict Connect { get; init; } = FilterVerdict.Accept;

        public FilterVerdict Mail { get; init; } = FilterVerdict.Accept;

        public Func<string, FilterVerdict> Rcpt { get; init; } = _ => FilterVerdict.Accept;

        public FilterVerdict EndOfData { get; init; } = FilterVerdict.Accept;

        public FilterContext? LastContext { get; private set; }

        public int MessageLength { get; private set; }

        public ValueTask<FilterVerdict> OnConnectAsync(FilterContext context, CancellationToken ct) => new(Connect);

        public ValueTask<FilterVerdict> OnMailFromAsync(FilterContext context, CancellationToken ct) => new(Mail);

        public ValueTask<FilterVerdict> OnRcptToAsync(FilterContext context, string recipient, CancellationToken ct) => new(Rcpt(recipient));

        public ValueTask<FilterVerdict> OnEndOfDataAsync(FilterContext context, ReadOnlyMemory<byte> message, CancellationToken ct)
        {
            LastContext = context;
            MessageLength = message.Length;
            return new(EndOfData);
        }
    }

    private const string Message = "From: a@remote.test\r\nSubject: f\r\n\r\nbody\r\n";

    private static async Task<RawSmtpClient> EnvelopeAsync(InboundTestHost host)
    {
        var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.CommandAsync("HELO client.test");
        Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        return c;
    }

    [Fact]
    public async Task Connect_reject_gets_a_554_greeting_and_close()
    {
        await using var host = await InboundTestHost.StartAsync(filter: new ScriptedFilter { Connect = FilterVerdict.Reject(554, "5.7.1", "Listed on a blocklist") });
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        Assert.Equal("554 5.7.1 Listed on a blocklist", await c.ReplyAsync());
        Assert.Equal("", await c.ReadToEndAsync());
    }

    [Fact]
    public async Task Mail_tempfail_and_rcpt_reject_become_replies()
    {
        var filter = new ScriptedFilter
        {
            Mail = FilterVerdict.TempFail("Greylisted, try again later"),
        };
        await using var host = await InboundTestHost.StartAsync(filter: filter);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.CommandAsync("HELO client.test");
        Assert.Equal("451 4.7.1 Greylisted, try again later", await c.CommandAsync("MAIL FROM:<a@remote.test>"));

        await using var host2 = await InboundTestHost.StartAsync(filter: new ScriptedFilter { Rcpt = r => r.StartsWith("bob", StringComparison.Ordinal) ? FilterVerdict.Reject(550, "5.7.1", "Not for bob") : FilterVerdict.Accept });
        await using var c2 = await RawSmtpClient.ConnectAsync(host2.Port);
        await c2.ReplyAsync();
        await c2.CommandAsync("HELO client.test");
        await c2.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.Equal("550 5.7.1 Not for bob", await c2.CommandAsync("RCPT TO:<bob@example.test>"));
        Assert.StartsWith("250", await c2.CommandAsync("RCPT TO:<alice@example.test>"));
    }

    [Fact]
    public async Task File_into_junk_with_added_headers()
    {
        var filter = new ScriptedFilter { EndOfData = FilterVerdict.FileInto("Junk").WithHeaders(new KeyValuePair<string, string>("X-Spam-Status", "Yes, score=9")) };
        await using var host = await InboundTestHost.StartAsync(filter: filter);
        await using (var c = await EnvelopeAsync(host))
        {
            Assert.StartsWith("250 2.0.0", await c.CommandAsync(Message + "."));
        }

        Assert.Empty(await host.MessagesAsync("alice@example.test"));
        var stored = await host.ReadBlobAsync(Assert.Single(await host.MessagesAsync("alice@example.test", "Junk")).BlobHash);
        Assert.Contains("X-Spam-Status: Yes, score=9\r\n", stored);
        Assert.Equal(Message.Length, filter.MessageLength);
        Assert.Equal("client.test", filter.LastContext!.HeloName);
        Assert.Equal("a@remote.test", filter.LastContext.Sender);
        Assert.Equal(["alice@example.test"], filter.LastContext.Recipients);
    }

    [Fact]
    public async Task Reject_tempfail_and_quarantine_at_end_of_data()
    {
        await using (var host = await InboundTestHost.StartAsync(filter: new ScriptedFilter { EndOfData = FilterVerdict.Reject(550, "5.7.1", "Virus found") }))
        await using (var c = await EnvelopeAsync(host))
        {
            Assert.Equal("550 5.7.1 Virus found", await c.CommandAsync(Message + "."));
            Assert.Empty(await host.MessagesAsync("alice@example.test"));
        }

        await using (var host = await InboundTestHost.StartAsync(filter: new ScriptedFilter { EndOfData = FilterVerdict.TempFail("Scanner busy") }))
        await using (var c = await EnvelopeAsync(host))
        {
            Assert.Equal("451 4.7.1 Scanner busy", await c.CommandAsync(Message + "."));
        }

        await using (var host = await InboundTestHost.StartAsync(filter: new ScriptedFilter { EndOfData = FilterVerdict.Quarantine("phishing") }))
        await using (var c = await EnvelopeAsync(host))
        {
            Assert.StartsWith("250 2.0.0", await c.CommandAsync(Message + "."));
            Assert.Empty(await host.MessagesAsync("alice@example.test"));
            Assert.Contains(host.Logs.Snapshot(), l => l.Contains("quarantined", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Reject_requires_a_5xx_code()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FilterVerdict.Reject(450, "4.0.0", "no"));
        Assert.Equal(FilterAction.Accept, (await PassThroughFilter.Instance.OnConnectAsync(null!, default)).Action);
    }
}
