using Rempart.Store;

namespace Rempart.Smtp.Tests;

public class QueueRunnerTests
{
    private static Func<string, string> Reply(string failingPrefix, string reply) =>
        address => address.StartsWith(failingPrefix, StringComparison.Ordinal) ? reply : "250 2.1.5 OK";

    [Fact]
    public async Task A_delivered_entry_is_removed_from_the_queue()
    {
        await using var h = await QueueHarness.StartAsync();

        var ids = await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test"), new QueueRecipient("carol@other.test"));
        await h.DrainAsync();

        Assert.Equal(2, ids.Count);
        Assert.Equal(2, h.Originals.Count);
        Assert.Empty(await h.Store.Queue.ListAsync());
        Assert.Equal(0, h.Runner.Backlog);
        Assert.Empty(h.Dsns);
    }

    [Fact]
    public async Task Temporary_failures_retry_with_doubling_backoff_up_to_the_cap()
    {
        await using var h = await QueueHarness.StartAsync(q =>
        {
            q.FirstRetryDelay = TimeSpan.FromMinutes(1);
            q.MaxRetryDelay = TimeSpan.FromMinutes(4);
        });
        h.Sink.RcptReply = _ => "451 4.2.1 mailbox busy";
        var id = (await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test")))[0];

        var expectedDelays = new[] { 1, 2, 4, 4 };
        foreach (var minutes in expectedDelays)
        {
            var start = h.Clock.GetUtcNow();
            Assert.Equal(1, await h.Runner.ProcessDueAsync());
            var entry = (await h.Store.Queue.GetAsync(id))!;
            Assert.Equal(start + TimeSpan.FromMinutes(minutes), entry.NextAttempt);
            Assert.Contains("451", entry.LastError);

            // Not due yet: a scan a second before the retry time attempts nothing.
            h.Clock.Advance(TimeSpan.FromMinutes(minutes) - TimeSpan.FromSeconds(1));
            Assert.Equal(0, await h.Runner.ProcessDueAsync());
            h.Clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(4, (await h.Store.Queue.GetAsync(id))!.Attempts);
        h.Sink.RcptReply = _ => "250 2.1.5 OK";
        Assert.Equal(1, await h.Runner.ProcessDueAsync());
        Assert.Single(h.Originals);
        Assert.Null(await h.Store.Queue.GetAsync(id));
    }

    [Fact]
    public async Task A_permanent_failure_sends_exactly_one_failure_dsn_to_the_sender()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RcptReply = Reply("bob@", "550 5.1.1 no such user");

        await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test"));
        await h.DrainAsync();
        for (var i = 0; i < 5; i++)
        {
            h.Clock.Advance(TimeSpan.FromHours(1));
            await h.DrainAsync();
        }

        var dsn = Assert.Single(h.Dsns);
        Assert.Contains("RCPT TO:<alice@sender.test>", dsn.RcptTo[0]);
        Assert.Contains("Action: failed", dsn.Data);
        Assert.Contains("Status: 5.1.1", dsn.Data);
        Assert.Contains("Diagnostic-Code: smtp; 550 5.1.1 no such user", dsn.Data);
        Assert.Contains("Final-Recipient: rfc822;bob@dest.test", dsn.Data);
        Assert.Contains("Original-Envelope-Id: ENV-Q", dsn.Data);
        Assert.Contains("QUEUE-BODY", dsn.Data);
        Assert.Empty(await h.Store.Queue.ListAsync());
    }

    [Fact]
    public async Task The_null_sender_never_gets_a_dsn()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RcptReply = _ => "550 5.1.1 no such user";

        await h.EnqueueAsync("", new QueueRecipient("bob@dest.test"));
        await h.DrainAsync();
        h.Clock.Advance(TimeSpan.FromHours(1));
        await h.DrainAsync();

        Assert.Empty(h.Sink.Messages);
        Assert.Empty(await h.Store.Queue.ListAsync());
        Assert.Contains(h.Sink.Commands, c => c.StartsWith("MAIL FROM:<>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Notify_never_suppresses_the_failure_dsn()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RcptReply = Reply("bob@", "550 5.1.1 no such user");

        await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test", "NEVER"));
        await h.DrainAsync();
        await h.DrainAsync();

        Assert.Empty(h.Dsns);
        Assert.Empty(await h.Store.Queue.ListAsync());
    }

    [Fact]
    public async Task One_delay_notice_is_sent_after_the_delay_threshold()
    {
        await using var h = await QueueHarness.StartAsync(q =>
        {
            q.FirstRetryDelay = TimeSpan.FromMinutes(10);
            q.MaxRetryDelay = TimeSpan.FromMinutes(10);
            q.DelayNoticeAfter = TimeSpan.FromMinutes(30);
        });
        h.Sink.RcptReply = Reply("bob@", "451 4.2.1 busy");
        var id = (await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test")))[0];

        for (var i = 0; i < 12; i++)
        {
            await h.DrainAsync();
            h.Clock.Advance(TimeSpan.FromMinutes(10));
        }

        var notice = Assert.Single(h.Dsns);
        Assert.Contains("Action: delayed", notice.Data);
        Assert.Contains("Will-Retry-Until:", notice.Data);
        var entry = (await h.Store.Queue.GetAsync(id))!;
        Assert.True(entry.DelayNoticeSent);
        Assert.True(entry.Attempts >= 10);
    }

    [Fact]
    public async Task Notify_without_delay_gets_no_delay_notice()
    {
        await using var h = await QueueHarness.StartAsync(q => q.DelayNoticeAfter = TimeSpan.FromMinutes(1));
        h.Sink.RcptReply = Reply("bob@", "451 4.2.1 busy");

        await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test", "FAILURE"));
        for (var i = 0; i < 4; i++)
        {
            await h.DrainAsync();
            h.Clock.Advance(TimeSpan.FromMinutes(8));
        }

        Assert.Empty(h.Dsns);
    }

    [Fact]
    public async Task An_entry_past_its_lifetime_bounces_once_with_4_4_7()
    {
        await using var h = await QueueHarness.StartAsync(q =>
        {
            q.Lifetime = TimeSpan.FromMinutes(30);
            q.FirstRetryDelay = TimeSpan.FromMinutes(10);
            q.MaxRetryDelay = TimeSpan.FromMinutes(10);
            q.DelayNoticeAfter = TimeSpan.FromDays(1);
        });
        h.Sink.RcptReply = Reply("bob@", "451 4.2.1 busy");

        await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test"));
        for (var i = 0; i < 8; i++)
        {
            await h.DrainAsync();
            h.Clock.Advance(TimeSpan.FromMinutes(10));
        }

        var dsn = Assert.Single(h.Dsns);
        Assert.Contains("Action: failed", dsn.Data);
        Assert.Contains("Status: 4.4.7", dsn.Data);
        Assert.Contains("451 4.2.1 busy", dsn.Data);
        Assert.Empty(await h.Store.Queue.ListAsync());
    }

    [Fact]
    public async Task Per_recipient_results_in_one_entry_are_handled_separately()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RcptReply = a => a switch
        {
            "carol@dest.test" => "550 5.1.1 no such user",
            "dave@dest.test" => "452 4.2.2 mailbox full",
            _ => "250 2.1.5 OK",
        };

        var id = (await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test"), new QueueRecipient("carol@dest.test"), new QueueRecipient("dave@dest.test")))[0];
        await h.DrainAsync();
        await h.DrainAsync();

        var original = Assert.Single(h.Originals);
        Assert.Equal(["RCPT TO:<bob@dest.test>"], original.RcptTo.Select(r => r.Split(' ')[0] + " " + r.Split(' ')[1]));
        var dsn = Assert.Single(h.Dsns);
        Assert.Contains("Final-Recipient: rfc822;carol@dest.test", dsn.Data);
        Assert.DoesNotContain("dave@dest.test", dsn.Data);
        Assert.DoesNotContain("Final-Recipient: rfc822;bob@dest.test", dsn.Data);
        var entry = (await h.Store.Queue.GetAsync(id))!;
        Assert.Equal(["dave@dest.test"], entry.Recipients.Select(r => r.Address));
        Assert.Equal(1, entry.Attempts);

        h.Sink.RcptReply = _ => "250 2.1.5 OK";
        h.Clock.Advance(TimeSpan.FromMinutes(1));
        await h.DrainAsync();
        Assert.Equal(2, h.Originals.Count);
        Assert.Null(await h.Store.Queue.GetAsync(id));
    }

    [Fact]
    public async Task Entries_survive_a_restart_and_are_delivered_when_the_peer_comes_back()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RefuseWith = "421 4.3.2 down for maintenance";
        var id = (await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test")))[0];
        await h.DrainAsync();
        Assert.Equal(1, (await h.Store.Queue.GetAsync(id))!.Attempts);

        await h.CloseAsync();
        await h.OpenAsync();

        var entry = Assert.Single(await h.Store.Queue.ListAsync());
        Assert.Equal(id, entry.Id);
        Assert.Equal(1, entry.Attempts);
        h.Sink.RefuseWith = null;
        h.Clock.Advance(TimeSpan.FromMinutes(1));
        await h.DrainAsync();

        Assert.Single(h.Originals);
        Assert.Empty(await h.Store.Queue.ListAsync());
    }

    [Fact]
    public async Task Several_entries_for_one_host_reuse_one_connection()
    {
        await using var h = await QueueHarness.StartAsync(q => q.Concurrency = 1);

        for (var i = 0; i < 4; i++)
        {
            await h.EnqueueAsync("alice@sender.test", new QueueRecipient($"user{i}@dest{i}.test"));
        }

        await h.DrainAsync();

        Assert.Equal(4, h.Originals.Count);
        Assert.Equal(1, h.Sink.Connections);
    }

    [Fact]
    public async Task Deliveries_never_exceed_the_configured_concurrency()
    {
        await using var h = await QueueHarness.StartAsync(q => q.Concurrency = 2);
        h.Sink.DataDelay = TimeSpan.FromMilliseconds(100);

        for (var i = 0; i < 6; i++)
        {
            await h.EnqueueAsync("alice@sender.test", new QueueRecipient($"user@d{i}.test"));
        }

        Assert.Equal(6, await h.Runner.ProcessDueAsync());

        Assert.Equal(6, h.Originals.Count);
        Assert.InRange(h.Sink.MaxActive, 1, 2);
    }

    [Fact]
    public async Task A_failure_dsn_for_a_local_sender_goes_straight_to_the_inbox()
    {
        await using var h = await QueueHarness.StartAsync();
        await h.Store.Directory.AddDomainAsync("rempart.test");
        var account = await h.Store.Directory.AddAccountAsync(new NewAccount("alice@rempart.test", "x"));
        h.Sink.RcptReply = _ => "550 5.7.1 rejected";

        await h.EnqueueAsync("alice@rempart.test", new QueueRecipient("bob@dest.test"));
        await h.DrainAsync();

        Assert.Empty(h.Sink.Messages);
        Assert.Empty(await h.Store.Queue.ListAsync());
        var inbox = (await h.Store.Messages.GetMailboxAsync(account.Id, "INBOX"))!;
        var message = Assert.Single(await h.Store.Messages.ListMessagesAsync(inbox.Id));
        var text = System.Text.Encoding.UTF8.GetString(await h.Store.Blobs.ReadAllAsync(message.BlobHash));
        Assert.Contains("Action: failed", text);
        Assert.Contains("MAILER-DAEMON@mx.rempart.test", text);
    }

    [Fact]
    public async Task Notify_success_to_a_peer_without_dsn_gets_a_relayed_report()
    {
        await using var h = await QueueHarness.StartAsync(sink: new OutboundTestSink(dsn: false));

        await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test", "SUCCESS"));
        await h.DrainAsync();
        await h.DrainAsync();

        var report = Assert.Single(h.Dsns);
        Assert.Contains("Action: relayed", report.Data);
    }

    [Fact]
    public async Task ReportDeliveredAsync_sends_delivered_dsns_only_for_notify_success_and_never_to_the_null_sender()
    {
        await using var h = await QueueHarness.StartAsync();
        var blob = await h.Store.Blobs.PutAsync(System.Text.Encoding.ASCII.GetBytes(QueueHarness.Message));

        await h.Runner.ReportDeliveredAsync("", [new QueueRecipient("x@rempart.test", "SUCCESS")], blob, null, null);
        await h.Runner.ReportDeliveredAsync("alice@sender.test", [new QueueRecipient("y@rempart.test", "FAILURE")], blob, null, null);
        await h.Runner.ReportDeliveredAsync("alice@sender.test", [new QueueRecipient("z@rempart.test", "SUCCESS,FAILURE", "rfc822;Z@rempart.test")], blob, "E9", "HDRS");
        await h.DrainAsync();

        var dsn = Assert.Single(h.Dsns);
        Assert.Contains("Action: delivered", dsn.Data);
        Assert.Contains("Original-Recipient: rfc822;Z@rempart.test", dsn.Data);
        Assert.Contains("text/rfc822-headers", dsn.Data);
        Assert.DoesNotContain("QUEUE-BODY", dsn.Data);
    }

    [Fact]
    public async Task RunAsync_delivers_new_mail_when_woken()
    {
        await using var h = await QueueHarness.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = h.Runner.RunAsync(cts.Token);

        await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test"));
        for (var i = 0; i < 200 && h.Originals.Count == 0; i++)
        {
            await Task.Delay(50);
        }

        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(h.Originals);
        Assert.Equal(h.Clock.GetUtcNow(), h.Runner.Heartbeat);
    }
}
