using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Protection.Quarantine;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Protection.Tests.Quarantine;

/// <summary>A real SQLite store in a temp folder, with one local domain.</summary>
internal sealed class QuarantineStore : IAsyncDisposable
{
    private QuarantineStore(string root, SqliteMailStore store)
    {
        Root = root;
        Store = store;
    }

    public string Root { get; }

    public SqliteMailStore Store { get; }

    public static async Task<QuarantineStore> CreateAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), "rempart-quarantine-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var store = await SqliteMailStore.OpenAsync(Path.Combine(root, "rempart.db"), Path.Combine(root, "blobs"), new StoreOptions(), NullLogger.Instance);
        await store.Directory.AddDomainAsync("example.com");
        return new QuarantineStore(root, store);
    }

    public Task<AccountRecord> AddAccountAsync(string address) =>
        Store.Directory.AddAccountAsync(new NewAccount(address, "$argon2id$test"));

    public async Task<QuarantineRecord> HoldAsync(QuarantineService service, byte[] message, params string[] recipients)
    {
        var blob = await Store.Blobs.PutAsync(message);
        return await service.HoldAsync(new NewQuarantine(blob, "spammer@bad.example", recipients, "held", "m1@bad.example", "spam (SCL 9)", "spam", default, default, "TR1"));
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Keeps log lines so tests can check what was logged.</summary>
internal sealed class ListLogger : ILogger
{
    public List<(LogLevel Level, EventId Id, string Message)> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines)
        {
            Lines.Add((logLevel, eventId, formatter(state, exception)));
        }
    }
}

public sealed class QuarantineServiceTests
{
    private static byte[] Plain(string subject, string body) =>
        Encoding.UTF8.GetBytes(
            $"From: Spammer <spammer@bad.example>\r\nTo: bob@example.com\r\nSubject: {subject}\r\nMessage-ID: <m1@bad.example>\r\n" +
            $"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");

    [Fact]
    public async Task Hold_sets_retention_and_traces_each_recipient()
    {
        await using var s = await QuarantineStore.CreateAsync();
        using var service = new QuarantineService(s.Store, new QuarantineOptions { Retention = TimeSpan.FromDays(7) }, NullLogger.Instance);
        var held = await s.HoldAsync(service, Plain("hi", "body"), "bob@example.com", "carol@example.com");

        Assert.Equal(TimeSpan.FromDays(7), held.Expires - held.Received);
        var trace = await s.Store.Protection.QueryTraceAsync(new TraceQuery(TraceId: "TR1"));
        Assert.Equal(["bob@example.com", "carol@example.com"], trace.Select(e => e.Recipient));
        Assert.All(trace, e => Assert.Equal(TraceEventKind.Quarantined, e.Kind));
        Assert.Contains("spam (SCL 9)", trace[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Release_delivers_into_the_inbox_of_the_real_recipient_and_a_second_release_is_refused()
    {
        await using var s = await QuarantineStore.CreateAsync();
        var bob = await s.AddAccountAsync("bob@example.com");
        var carol = await s.AddAccountAsync("carol@example.com");
        await s.Store.Directory.AddAliasAsync("sales@example.com", ["bob@example.com"], AliasKind.Alias);
        var logger = new ListLogger();
        using var service = new QuarantineService(s.Store, new QuarantineOptions(), logger);
        var held = await s.HoldAsync(service, Plain("release me", "wanted after all"), "sales@example.com", "ghost@example.com", "far@remote.example");

        var result = await service.ReleaseAsync(held.Id, "admin-alice");

        Assert.Equal("admin-alice", result.ReleasedBy);
        var bobInbox = (await s.Store.Messages.GetMailboxAsync(bob.Id, "INBOX"))!;
        var messages = await s.Store.Messages.ListMessagesAsync(bobInbox.Id);
        Assert.Equal(held.Blob.Hash, Assert.Single(messages).BlobHash);
        var carolInbox = (await s.Store.Messages.GetMailboxAsync(carol.Id, "INBOX"))!;
        Assert.Empty(await s.Store.Messages.ListMessagesAsync(carolInbox.Id));

        var delivered = Assert.Single(result.Destinations, d => d.Outcome == ReleaseOutcome.Delivered);
        Assert.Equal("sales@example.com", delivered.Recipient);
        Assert.Contains("INBOX of bob@example.com", delivered.Where, StringComparison.Ordinal);
        Assert.Equal(ReleaseOutcome.Unknown, Assert.Single(result.Destinations, d => d.Recipient == "ghost@example.com").Outcome);
        Assert.Equal(ReleaseOutcome.Queued, Assert.Single(result.Destinations, d => d.Recipient == "far@remote.example").Outcome);
        var queued = Assert.Single(await s.Store.Queue.ListAsync());
        Assert.Equal("remote.example", queued.Domain);

        var entry = (await s.Store.Protection.GetQuarantineAsync(held.Id))!;
        Assert.NotNull(entry.Released);
        Assert.Equal("admin-alice", entry.ReleasedBy);
        Assert.Contains(await s.Store.Protection.QueryTraceAsync(new TraceQuery(TraceId: "TR1")), e => e.Kind == TraceEventKind.Released && e.Detail.Contains("admin-alice", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Id.Id == (int)Rempart.Telemetry.EventIds.QuarantineReleased && l.Message.Contains("admin-alice", StringComparison.Ordinal));

        var again = await Assert.ThrowsAsync<QuarantineException>(() => service.ReleaseAsync(held.Id, "admin-bob"));
        Assert.Contains("already released", again.Message, StringComparison.Ordinal);
        Assert.Contains("admin-alice", again.Message, StringComparison.Ordinal);
        Assert.Single(await s.Store.Messages.ListMessagesAsync(bobInbox.Id));

        var missing = await Assert.ThrowsAsync<QuarantineException>(() => service.ReleaseAsync(999_999, "admin"));
        Assert.Contains("no quarantine entry", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_release_nobody_can_take_is_refused_and_the_entry_stays_held()
    {
        await using var s = await QuarantineStore.CreateAsync();
        using var service = new QuarantineService(s.Store, new QuarantineOptions(), NullLogger.Instance);
        var held = await s.HoldAsync(service, Plain("x", "y"), "gone@example.com");

        var ex = await Assert.ThrowsAsync<QuarantineException>(() => service.ReleaseAsync(held.Id, "admin"));
        Assert.Contains("stays in quarantine", ex.Message, StringComparison.Ordinal);
        Assert.Null((await s.Store.Protection.GetQuarantineAsync(held.Id))!.Released);
    }

    [Fact]
    public async Task Delete_and_sweep_remove_entries_and_their_bodies()
    {
        await using var s = await QuarantineStore.CreateAsync();
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
        using var service = new QuarantineService(s.Store, new QuarantineOptions { Retention = TimeSpan.FromDays(1), TraceRetention = TimeSpan.FromDays(2) }, NullLogger.Instance, time);
        var first = await s.HoldAsync(service, Plain("one", "1"), "bob@example.com");
        var second = await s.HoldAsync(service, Plain("two", "2"), "bob@example.com");

        Assert.True(await service.DeleteAsync(first.Id, "admin"));
        Assert.False(await service.DeleteAsync(first.Id, "admin"));
        await s.Store.SweepOrphanBlobsAsync(TimeSpan.Zero);
        Assert.False(s.Store.Blobs.Exists(first.Blob.Hash));
        Assert.True(s.Store.Blobs.Exists(second.Blob.Hash));

        Assert.Equal((0, 0), await service.SweepAsync());
        time.Now += TimeSpan.FromDays(1.5);
        Assert.Equal((1, 0), await service.SweepAsync());
        time.Now += TimeSpan.FromDays(1);
        Assert.Equal((0, 2), await service.SweepAsync());
        Assert.Empty(await service.ListAsync(new QuarantineQuery(IncludeReleased: true)));
    }

    [Fact]
    public async Task Preview_strips_escapes_and_html_lists_attachments_and_bounds_size()
    {
        await using var s = await QuarantineStore.CreateAsync();
        using var service = new QuarantineService(s.Store, new QuarantineOptions(), NullLogger.Instance);
        var html = "<html><head><title>T</title><style>p{color:red}</style><script>alert('x')</script></head><body>" +
                   "<p>Hello &amp; welcome\u001b[31m RED\u001b[0m</p><ul><li>one</li><li>two</li></ul><a href=\"https://bad.example/x\">click</a>" +
                   string.Concat(Enumerable.Repeat("<p>filler text</p>", 2000)) + "</body></html>";
        var raw =
            "From: \"Evil\u001b]0;pwned\u0007 Sender\" <evil@bad.example>\r\nTo: bob@example.com\r\nSubject: =?utf-8?B?" +
            Convert.ToBase64String(Encoding.UTF8.GetBytes("Pay \u001b[2J\u202eexe.pdf now\u0007")) + "?=\r\n" +
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
            "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n" +
            "--b\r\nContent-Type: application/x-msdownload; name=\"invoice.exe\"\r\nContent-Disposition: attachment; filename=\"invoice\u001b[1m.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n" +
            "--b--\r\n";
        var held = await s.HoldAsync(service, Encoding.UTF8.GetBytes(raw), "bob@example.com");

        var preview = (await service.PreviewAsync(held.Id, maxBodyChars: 500))!;
        var text = preview.ToText();

        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain('\u0007', text);
        Assert.DoesNotContain('\u202e', text);
        Assert.DoesNotContain("alert", text, StringComparison.Ordinal);
        Assert.DoesNotContain("color:red", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<p>", text, StringComparison.Ordinal);
        Assert.Contains("Hello & welcome RED", text, StringComparison.Ordinal);
        Assert.Contains("- one", text, StringComparison.Ordinal);
        Assert.Contains("[https://bad.example/x]", text, StringComparison.Ordinal);
        Assert.True(preview.BodyFromHtml);
        Assert.True(preview.BodyTruncated);
        Assert.True(preview.Body.Length <= 500);
        Assert.Contains(preview.Headers, h => h.Name == "Subject" && h.Value.StartsWith("Pay", StringComparison.Ordinal) && h.Value.Contains("exe.pdf now", StringComparison.Ordinal));

        var attachment = Assert.Single(preview.Attachments);
        Assert.Equal("invoice.exe", attachment.Name);
        Assert.Equal("application/x-msdownload", attachment.ContentType);
        Assert.Equal("attachment", attachment.Disposition);

        Assert.Null(await service.PreviewAsync(999_999));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a\u001b[31;1mred\u001b[0mb", "aredb")]
    [InlineData("title\u001b]0;owned\u0007end", "titleend")]
    [InlineData("st\u001b]8;;http://x\u001b\\link", "stlink")]
    [InlineData("reset\u001bcnow", "resetnow")]
    [InlineData("c1\u009b31mx", "c131mx")]
    [InlineData("line1\r\nline2\tx", "line1 line2 x")]
    [InlineData("bidi\u202egnp.exe\u2066x\u2069", "bidignp.exex")]
    [InlineData("nul\0del\u007f", "nuldel")]
    public void Clean_removes_what_a_terminal_would_act_on(string input, string expected) =>
        Assert.Equal(expected, SafeText.Clean(input, 100));

    [Fact]
    public void Clean_bounds_length_and_keeps_lines_in_multiline_mode()
    {
        Assert.Equal("abcde...", SafeText.Clean(new string('a', 1) + "bcdefgh", 5));
        var multi = SafeText.Clean("a\r\n\r\n\r\n\r\nb   \nc", 100, singleLine: false, out var truncated);
        Assert.Equal("a\n\nb\nc", multi);
        Assert.False(truncated);
        SafeText.Clean(new string('x', 10_000), 100, singleLine: false, out truncated);
        Assert.True(truncated);
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
