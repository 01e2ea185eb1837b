namespace Rempart.Smtp.Tests;

public class RelayPolicyTests
{
    [Theory]
    [InlineData("<alice@example.test>", "250 2.1.5")]
    [InlineData("<ALICE@Example.Test>", "250 2.1.5")]
    [InlineData("<team@example.test>", "250 2.1.5")]
    [InlineData("<anything@catch.test>", "250 2.1.5")]
    [InlineData("<Postmaster>", "250 2.1.5")]
    [InlineData("<someone@remote.test>", "554 5.7.1")]
    [InlineData("<someone@example.test.remote.test>", "554 5.7.1")]
    [InlineData("<user%remote.test@example.test>", "554 5.7.1")]
    [InlineData("<remote.test!user@example.test>", "554 5.7.1")]
    [InlineData("<\"user@remote.test\"@example.test>", "554 5.7.1")]
    [InlineData("<\"user%remote.test\"@example.test>", "554 5.7.1")]
    [InlineData("<@example.test:user@remote.test>", "554 5.7.1")]
    [InlineData("<@remote.test:alice@example.test>", "554 5.7.1")]
    [InlineData("<alice@[127.0.0.1]>", "554 5.7.1")]
    [InlineData("<alice@[IPv6:::1]>", "554 5.7.1")]
    [InlineData("<nobody@example.test>", "550 5.1.1")]
    [InlineData("<dave@example.test>", "550 5.2.1")]
    [InlineData("<alice@example.test", "501 5.1.3")]
    [InlineData("alice@example.test", "501 5.1.3")]
    [InlineData("<>", "501 5.1.3")]
    public async Task Unauthenticated_rcpt_reaches_local_recipients_only(string path, string expected)
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        Assert.StartsWith(expected, await c.CommandAsync("RCPT TO:" + path));
    }

    [Fact]
    public async Task Relay_attempts_are_never_queued()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<user%remote.test@example.test>");
        await c.CommandAsync("RCPT TO:<someone@remote.test>");
        Assert.StartsWith("554 5.5.1", await c.CommandAsync("DATA"));
        Assert.Empty(host.Queue.Enqueued);
    }
}
