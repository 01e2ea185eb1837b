namespace Rempart.Smtp.Tests;

public class DeliveryTests
{
    private const string Message = "From: a@remote.test\r\nSubject: hi\r\n\r\nHello\r\n";

    private static async Task<string> SendAsync(InboundTestHost host, string sender, params string[] rcpts)
    {
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        Assert.StartsWith("250", await c.CommandAsync($"MAIL FROM:<{sender}>"));
        foreach (var r in rcpts)
        {
            Assert.StartsWith("250", await c.CommandAsync("RCPT TO:" + r));
        }

        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        var reply = await c.CommandAsync(Message + ".");
        await c.CommandAsync("QUIT");
        return reply;
    }

    [Fact]
    public async Task Aliases_groups_and_catch_all_are_expanded_and_stored_once()
    {
        await using var host = await InboundTestHost.StartAsync();
        var reply = await SendAsync(host, "a@remote.test", "<team@example.test>", "<info@example.test>", "<alice@example.test>", "<x@catch.test>");
        Assert.StartsWith("250 2.0.0 OK queued as", reply);
        var alice = await host.MessagesAsync("alice@example.test");
        var bob = await host.MessagesAsync("bob@example.test");
        Assert.Single(alice);
        Assert.Single(bob);
        Assert.Equal(alice[0].BlobHash, bob[0].BlobHash);
        Assert.Empty(host.Queue.Enqueued);
    }

    [Fact]
    public async Task When_250_is_answered_the_body_is_at_its_blob_name_not_waiting_in_tmp()
    {
        await using var host = await InboundTestHost.StartAsync();
        Assert.StartsWith("250", await SendAsync(host, "a@remote.test", "<alice@example.test>", "<bob@example.test>"));

        // The body was put for the commit of the delivery, which moved it into place (synced) before committing.
        var hash = Assert.Single(await host.MessagesAsync("alice@example.test")).BlobHash;
        Assert.True(File.Exists(host.Store.BlobFiles.PathOf(hash)));
        Assert.Empty(Directory.GetFiles(Path.Combine(host.Store.BlobFiles.Root, "tmp")));
    }

    [Fact]
    public async Task Remote_alias_targets_go_to_the_queue_with_dsn_parameters()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Protection.Outbound.AllowExternalForwarding = true);
        await SendToForwardingAliasAsync(host, " RET=HDRS ENVID=env1", " NOTIFY=FAILURE,DELAY");

        Assert.Single(await host.MessagesAsync("bob@example.test"));
        var queued = Assert.Single(host.Queue.Enqueued);
        Assert.Equal("a@remote.test", queued.Sender);
        Assert.Equal("env1", queued.EnvelopeId);
        Assert.Equal("HDRS", queued.Ret);
        var rcpt = Assert.Single(queued.Recipients);
        Assert.Equal("someone@remote.test", rcpt.Address);
        Assert.Equal("FAILURE,DELAY", rcpt.Notify);
        Assert.Equal("rfc822;fwd@example.test", rcpt.OriginalRecipient);
        var remoteCopy = await host.ReadBlobAsync(queued.Blob.Hash);
        Assert.StartsWith("Received: ", remoteCopy);
        Assert.DoesNotContain("Return-Path", remoteCopy);
    }

    [Fact]
    public async Task By_default_inbound_mail_is_not_forwarded_outside_but_local_members_get_it()
    {
        await using var host = await InboundTestHost.StartAsync();
        await SendToForwardingAliasAsync(host, "", "");

        Assert.Single(await host.MessagesAsync("bob@example.test"));
        Assert.Empty(host.Queue.Enqueued);
        Assert.Contains(host.Logs.Snapshot(), l => l.Contains("external forwarding is off", StringComparison.Ordinal));
    }

    /// <summary>One message from a@remote.test to fwd@example.test (bob plus someone@remote.test) over the MX role.</summary>
    private static async Task SendToForwardingAliasAsync(InboundTestHost host, string mailParameters, string rcptParameters)
    {
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        await c.CommandAsync("MAIL FROM:<a@remote.test>" + mailParameters);
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<fwd@example.test>" + rcptParameters));
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await c.CommandAsync(Message + "."));
    }

    [Fact]
    public async Task Over_quota_recipient_gets_452_at_rcpt()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        await c.CommandAsync("MAIL FROM:<a@remote.test> SIZE=100");
        Assert.StartsWith("452 4.2.2", await c.CommandAsync("RCPT TO:<carol@example.test>"));
        Assert.StartsWith("250 2.1.5", await c.CommandAsync("RCPT TO:<alice@example.test>"));
    }

    [Fact]
    public async Task Quota_failure_at_delivery_accepts_for_the_others_and_bounces()
    {
        await using var host = await InboundTestHost.StartAsync();
        var reply = await SendAsync(host, "a@remote.test", "<alice@example.test>", "<carol@example.test>");
        Assert.StartsWith("250 2.0.0", reply);
        Assert.Single(await host.MessagesAsync("alice@example.test"));
        Assert.Empty(await host.MessagesAsync("carol@example.test"));
        var bounce = Assert.Single(host.Queue.Enqueued);
        Assert.Equal("", bounce.Sender);
        Assert.Equal("a@remote.test", Assert.Single(bounce.Recipients).Address);
        var text = await host.ReadBlobAsync(bounce.Blob.Hash);
        Assert.Contains("Final-Recipient: rfc822;carol@example.test", text);
        Assert.Contains("Action: failed", text);
        Assert.Contains("Status: 5.2.2", text);
    }

    [Fact]
    public async Task Quota_failure_for_every_target_answers_452()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<carol@example.test>"));
        await c.CommandAsync("DATA");
        Assert.StartsWith("452 4.2.2", await c.CommandAsync(Message + "."));
        Assert.Empty(host.Queue.Enqueued);
    }

    [Fact]
    public async Task Notify_success_local_delivery_is_reported()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using (var c = await RawSmtpClient.ConnectAsync(host.Port))
        {
            await c.ReplyAsync();
            await c.SendAsync("EHLO client.test\r\n");
            await c.ReadReplyAsync();
            await c.CommandAsync("MAIL FROM:<a@remote.test>");
            await c.CommandAsync("RCPT TO:<alice@example.test> NOTIFY=SUCCESS");
            await c.CommandAsync("RCPT TO:<bob@example.test>");
            await c.CommandAsync("DATA");
            Assert.StartsWith("250", await c.CommandAsync(Message + "."));
        }

        var (sender, recipients) = Assert.Single(host.Queue.Delivered);
        Assert.Equal("a@remote.test", sender);
        Assert.Equal("alice@example.test", Assert.Single(recipients).Address);
    }
}
