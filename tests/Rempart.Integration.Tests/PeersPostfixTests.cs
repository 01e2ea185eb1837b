using System.Globalization;
using System.Text.Json.Nodes;

namespace Rempart.Integration.Tests;

/// <summary>Rempart and a real Postfix exchanging mail both ways over loopback.</summary>
[Collection(InteropCollection.Name)]
public sealed class PeersPostfixTests
{
    [PostfixFact]
    public async Task Postfix_relays_into_rempart_and_the_message_reaches_the_inbox()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        var (user, pw) = await MailProbe.NewUserAsync(server, "frompostfix");
        await using var postfix = await PostfixInstance.StartAsync("example.test", server.Port("smtp"));

        var marker = "postfix-in-" + Guid.NewGuid().ToString("n")[..8];
        var message = $"From: Local Program <program@postfix.interop.test>\nTo: <{user}>\nSubject: {marker}\nMessage-ID: <{marker}@postfix.interop.test>\n\nrelayed by postfix\n";
        var sent = await postfix.SendmailAsync("program@postfix.interop.test", user, message);
        Assert.True(sent.ExitCode == 0, sent + "\n--- postfix log\n" + postfix.Log);

        MimeKit.MimeMessage got;
        try
        {
            got = await MailProbe.WaitForSubjectAsync(server, user, pw, marker, TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n--- postfix log\n" + postfix.Log, ex);
        }

        Assert.Equal(marker + "@postfix.interop.test", got.MessageId);
        Assert.Contains("relayed by postfix", got.TextBody, StringComparison.Ordinal);
        Assert.Equal("<program@postfix.interop.test>", MailProbe.Header(got, "Return-Path"));

        // Rempart's own Received header names Postfix's EHLO and shows that Postfix's smtp client used STARTTLS.
        var received = MailProbe.Header(got, "Received");
        Assert.Contains("postfix.interop.test", received, StringComparison.Ordinal);
        Assert.Contains("ESMTPS", received, StringComparison.Ordinal);

        // And Postfix recorded a successful hand-off to Rempart's port.
        var port = server.Port("smtp").ToString(CultureInfo.InvariantCulture);
        Assert.Contains($"relay=127.0.0.1[127.0.0.1]:{port}", postfix.Log, StringComparison.Ordinal);
        Assert.Contains("status=sent", postfix.Log, StringComparison.Ordinal);
    }

    [PostfixFact]
    public async Task Rempart_delivers_to_postfix_through_a_smart_host_route()
    {
        await using var postfix = await PostfixInstance.StartAsync();
        await using var server = ServerProcess.Create(c => c["routes"] = new JsonArray(new JsonObject
        {
            ["name"] = "to-postfix",
            ["domains"] = new JsonArray(PostfixInstance.SinkDomain),
            ["smartHost"] = "127.0.0.1:" + postfix.SmtpPort.ToString(CultureInfo.InvariantCulture),
            ["tls"] = "opportunistic",
            ["insecureSkipVerify"] = true,
        }));
        await server.StartAsync();
        var (user, pw) = await MailProbe.NewUserAsync(server, "topostfix");

        var marker = "postfix-out-" + Guid.NewGuid().ToString("n")[..8];
        var sent = MailProbe.Message(user, "reader@" + PostfixInstance.SinkDomain, marker, "delivered by rempart");
        await MailProbe.SubmitAsync(server, user, pw, sent);

        var deadline = DateTime.UtcNow.AddSeconds(90);
        string? delivered = null;
        while (delivered is null)
        {
            delivered = postfix.SinkMessages().FirstOrDefault(m => m.Contains(marker, StringComparison.Ordinal));
            if (delivered is null)
            {
                Assert.True(DateTime.UtcNow < deadline, "Postfix never received the message in 90 s\n--- rempart queue\n"
                    + await MailProbe.QueueListAsync(server) + "\n--- rempart log\n" + MailProbe.Tail(server.Output, 40) + "\n--- postfix log\n" + postfix.Log);
                await Task.Delay(500);
            }
        }

        Assert.Contains("delivered by rempart", delivered, StringComparison.Ordinal);
        Assert.Contains("<" + sent.MessageId + ">", delivered, StringComparison.Ordinal);
        Assert.Contains("Return-Path: <" + user + ">", delivered, StringComparison.OrdinalIgnoreCase);

        // Rempart used STARTTLS toward Postfix (opportunistic, self-signed peer) and nothing stays queued.
        Assert.Contains("TLS connection established from", postfix.Log, StringComparison.Ordinal);
        await MailProbe.WaitForQueueAsync(server, l => !l.Contains(PostfixInstance.SinkDomain, StringComparison.Ordinal), "emptied of sink.test", TimeSpan.FromSeconds(30));
    }
}
