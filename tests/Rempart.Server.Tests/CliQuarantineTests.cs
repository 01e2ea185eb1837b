using System.Globalization;
using System.Text;
using System.Text.Json;
using Rempart.Store;

namespace Rempart.Server.Tests;

/// <summary><c>rempart quarantine ...</c> and <c>rempart trace</c> run in-process against a real store.</summary>
public sealed class CliQuarantineTests : IDisposable
{
    private readonly CliHarness cli = new();

    public void Dispose() => cli.Dispose();

    [Fact]
    public async Task Quarantine_list_show_release_delete()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        long spamId;
        long virusId;
        long bobId;
        await using (var store = await cli.OpenStoreAsync())
        {
            bobId = (await store.Directory.AddAccountAsync(new NewAccount("bob@example.com", "$argon2id$test"))).Id;
            var raw = Encoding.UTF8.GetBytes(
                "From: spammer@bad.example\r\nTo: bob@example.com\r\nSubject: Win \u001b[31mbig\u001b[0m\r\nMIME-Version: 1.0\r\n" +
                "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Claim <b>now</b></p><script>evil()</script>\r\n");
            var blob = await store.Blobs.PutAsync(raw);
            var now = DateTimeOffset.UtcNow;
            spamId = (await store.Protection.AddQuarantineAsync(new NewQuarantine(blob, "spammer@bad.example", ["bob@example.com"], "Win \u001b[31mbig\u001b[0m", "m1@bad.example", "spam (SCL 9)", "spam", now, now.AddDays(30), "TR-SPAM"))).Id;
            var virusBlob = await store.Blobs.PutAsync("Subject: invoice\r\n\r\nopen me\r\n"u8.ToArray());
            virusId = (await store.Protection.AddQuarantineAsync(new NewQuarantine(virusBlob, "x@other.example", ["carol@elsewhere.example"], "invoice", null, "Eicar", "malware", now, now.AddDays(30)))).Id;
        }

        var spam = spamId.ToString(CultureInfo.InvariantCulture);
        var virus = virusId.ToString(CultureInfo.InvariantCulture);

        var list = await cli.RunAsync("quarantine", "list");
        Expect(0, list);
        Assert.Contains("spammer@bad.example", list.Out);
        Assert.Contains("x@other.example", list.Out);
        Assert.DoesNotContain('\u001b', list.Out);

        var byRecipient = await cli.RunAsync("quarantine", "list", "--recipient", "BOB@example.com");
        Expect(0, byRecipient);
        Assert.Contains("spammer@bad.example", byRecipient.Out);
        Assert.DoesNotContain("x@other.example", byRecipient.Out);

        var byCategory = await cli.RunAsync("quarantine", "list", "--category", "malware");
        Expect(0, byCategory);
        Assert.Contains("x@other.example", byCategory.Out);
        Assert.DoesNotContain("spammer@bad.example", byCategory.Out);
        Expect(2, await cli.RunAsync("quarantine", "list", "--category", "nonsense"));

        var show = await cli.RunAsync("quarantine", "show", spam);
        Expect(0, show);
        Assert.Contains("Claim now", show.Out);
        Assert.Contains("spam (SCL 9)", show.Out);
        Assert.DoesNotContain("evil()", show.Out);
        Assert.DoesNotContain('\u001b', show.Out);
        Expect(1, await cli.RunAsync("quarantine", "show", "999999"));
        Expect(2, await cli.RunAsync("quarantine", "show", "abc"));

        var release = await cli.RunAsync("quarantine", "release", spam, "--by", "admin-alice");
        Expect(0, release);
        Assert.Contains("INBOX of bob@example.com", release.Out);
        Assert.Contains("admin-alice", release.Out);

        var again = await cli.RunAsync("quarantine", "release", spam);
        Expect(1, again);
        Assert.Contains("already released", again.Err);

        await using (var store = await cli.OpenStoreAsync())
        {
            var inbox = (await store.Messages.GetMailboxAsync(bobId, "INBOX"))!;
            Assert.Single(await store.Messages.ListMessagesAsync(inbox.Id));
            Assert.Equal("admin-alice", (await store.Protection.GetQuarantineAsync(spamId))!.ReleasedBy);
        }

        // Released entries leave the default list but stay with --all.
        Assert.DoesNotContain("spammer@bad.example", (await cli.RunAsync("quarantine", "list")).Out);
        Assert.Contains("admin-alice", (await cli.RunAsync("quarantine", "list", "--all")).Out);

        Expect(0, await cli.RunAsync("quarantine", "delete", virus));
        Expect(1, await cli.RunAsync("quarantine", "delete", virus));
        var empty = await cli.RunAsync("quarantine", "list");
        Expect(0, empty);
        Assert.Contains("No held messages", empty.Err);

        // The release is in the trace, with who did it.
        var trace = await cli.RunAsync("trace", "--id", "TR-SPAM");
        Expect(0, trace);
        Assert.Contains("Released", trace.Out);
        Assert.Contains("admin-alice", trace.Out);
    }

    [Fact]
    public async Task Trace_filters_groups_and_prints_json()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var now = DateTimeOffset.UtcNow;
        await using (var store = await cli.OpenStoreAsync())
        {
            await store.Protection.AppendTraceAsync(
            [
                new TraceEvent(now.AddDays(-3), "OLD1", TraceEventKind.Received, "alice@sender.example", "bob@example.com", "old@sender.example", "192.0.2.9", "250 ok", "Old one"),
                new TraceEvent(now.AddMinutes(-10), "NEW1", TraceEventKind.Received, "alice@sender.example", "bob@example.com", "new@sender.example", "192.0.2.1", "250 ok", "Hello \u001b]0;x\u0007there"),
                new TraceEvent(now.AddMinutes(-9), "NEW1", TraceEventKind.Delivered, "alice@sender.example", "bob@example.com", "new@sender.example", null, "INBOX"),
                new TraceEvent(now.AddMinutes(-8), "NEW2", TraceEventKind.Rejected, "eve@spam.example", "carol@example.com", null, "198.51.100.7", "550 5.7.1 spam"),
            ]);
        }

        var bySender = await cli.RunAsync("trace", "--sender", "alice@sender.example");
        Expect(0, bySender);
        Assert.Contains("Trace OLD1", bySender.Out);
        Assert.Contains("Trace NEW1", bySender.Out);
        Assert.DoesNotContain("NEW2", bySender.Out);
        Assert.True(bySender.Out.IndexOf("Trace OLD1", StringComparison.Ordinal) < bySender.Out.IndexOf("Trace NEW1", StringComparison.Ordinal));
        Assert.DoesNotContain('\u001b', bySender.Out);

        var recent = await cli.RunAsync("trace", "--sender", "sender.example", "--since", "1h");
        Expect(0, recent);
        Assert.DoesNotContain("OLD1", recent.Out);
        Assert.Contains("Delivered", recent.Out);

        var byRecipient = await cli.RunAsync("trace", "--recipient", "carol@example.com");
        Expect(0, byRecipient);
        Assert.Contains("550 5.7.1 spam", byRecipient.Out);
        Assert.DoesNotContain("NEW1", byRecipient.Out);

        var byMessageId = await cli.RunAsync("trace", "--message-id", "<old@sender.example>");
        Expect(0, byMessageId);
        Assert.Contains("OLD1", byMessageId.Out);
        Assert.DoesNotContain("NEW1", byMessageId.Out);

        var until = await cli.RunAsync("trace", "--until", now.AddDays(-1).ToString("o", CultureInfo.InvariantCulture));
        Expect(0, until);
        Assert.Contains("OLD1", until.Out);
        Assert.DoesNotContain("NEW", until.Out);

        var json = await cli.RunAsync("trace", "--id", "NEW1", "--json");
        Expect(0, json);
        using (var doc = JsonDocument.Parse(json.Out))
        {
            var events = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal(2, events.Count);
            Assert.Equal("Received", events[0].GetProperty("kind").GetString());
            Assert.Equal("Delivered", events[1].GetProperty("kind").GetString());
            Assert.Equal("bob@example.com", events[1].GetProperty("recipient").GetString());
        }

        var limited = await cli.RunAsync("trace", "--limit", "1");
        Expect(0, limited);
        Assert.Contains("NEW2", limited.Out);
        Assert.DoesNotContain("NEW1", limited.Out);
        Assert.Contains("most recent", limited.Err);

        var none = await cli.RunAsync("trace", "--sender", "nobody@nowhere.example");
        Expect(0, none);
        Assert.Contains("No trace events", none.Err);

        Expect(2, await cli.RunAsync("trace", "--since", "yesterday-ish"));
        Expect(2, await cli.RunAsync("trace", "--since", "1h", "--until", "2h"));
        Expect(2, await cli.RunAsync("trace", "--limit", "0"));
    }

    private static void Expect(int code, CliResult r)
    {
        if (r.Code != code)
        {
            Assert.Fail($"exit code {r.Code}, expected {code}\nstdout: {r.Out}\nstderr: {r.Err}");
        }
    }
}
