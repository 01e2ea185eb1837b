using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Store.Sqlite;

namespace Rempart.Imap.Tests.Sessions;

public class ConcurrencyAndLogTests
{
    [Fact]
    public async Task Expunge_is_held_back_during_fetch_and_reported_at_noop()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var a = await RawImapClient.ConnectAndLoginAsync(server);
        await using var b = await RawImapClient.ConnectAndLoginAsync(server);
        for (var i = 1; i <= 3; i++)
        {
            await a.SendAsync($"p{i} APPEND INBOX {{12+}}\r\nSubject: {i}\r\n\r\n");
            Assert.StartsWith($"p{i} OK [APPENDUID", (await a.ReadUntilAsync($"p{i} "))[^1], StringComparison.Ordinal);
        }

        await a.SendAsync("s SELECT INBOX\r\n");
        await a.ReadUntilAsync("s OK");
        await b.SendAsync("s SELECT INBOX\r\n");
        await b.ReadUntilAsync("s OK");

        await b.SendAsync("x STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
        await b.ReadUntilAsync("x OK");
        await b.SendAsync("y STORE 3 +FLAGS.SILENT (\\Flagged)\r\n");
        await b.ReadUntilAsync("y OK");
        await b.SendAsync("z EXPUNGE\r\n");
        Assert.Equal(["* 1 EXPUNGE", "z OK EXPUNGE completed"], await b.ReadUntilAsync("z "));

        // A FETCH by sequence number must not see EXPUNGE: message numbers stay as A knows them.
        await a.SendAsync("f FETCH 1:* (UID)\r\n");
        var fetch = await a.ReadUntilAsync("f ");
        Assert.DoesNotContain(fetch, l => l.Contains("EXPUNGE", StringComparison.Ordinal));
        Assert.Contains("* 2 FETCH (UID 2)", fetch);
        Assert.Contains("* 3 FETCH (UID 3)", fetch);
        Assert.Contains(fetch, l => l.StartsWith("* 3 FETCH (FLAGS (\\Flagged", StringComparison.Ordinal));

        await a.SendAsync("n NOOP\r\n");
        var noop = await a.ReadUntilAsync("n ");
        Assert.Equal(["* 1 EXPUNGE", "n OK NOOP completed"], noop);

        // A new message from B is announced to A with the right count.
        await b.SendAsync("p4 APPEND INBOX {12+}\r\nSubject: 4\r\n\r\n");
        await b.ReadUntilAsync("p4 ");
        await a.SendAsync("u UID FETCH 1:* (UID)\r\n");
        var after = await a.ReadUntilAsync("u ");
        Assert.True(after.Contains("* 3 EXISTS"), string.Join(" | ", after));
        Assert.True(after.Contains("* 3 FETCH (UID 4)"), string.Join(" | ", after));
    }

    [Fact]
    public async Task Idle_reports_a_new_message_from_another_session()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var a = await RawImapClient.ConnectAndLoginAsync(server);
        await using var b = await RawImapClient.ConnectAndLoginAsync(server);
        await a.SendAsync("s SELECT INBOX\r\n");
        await a.ReadUntilAsync("s OK");
        await a.SendAsync("i IDLE\r\n");
        Assert.Equal("+ idling", await a.ReadLineAsync());
        await b.SendAsync("p APPEND INBOX {12+}\r\nSubject: x\r\n\r\n");
        await b.ReadUntilAsync("p ");
        Assert.Equal("* 1 EXISTS", await a.ReadLineAsync(5000));
        await a.SendAsync("DONE\r\n");
        Assert.Equal("i OK IDLE terminated", await a.ReadLineAsync());
    }

    [Fact]
    public async Task Idle_reports_a_message_appended_by_another_process()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var a = await RawImapClient.ConnectAndLoginAsync(server);
        await a.SendAsync("s SELECT INBOX\r\n");
        await a.ReadUntilAsync("s OK");
        await a.SendAsync("i IDLE\r\n");
        Assert.Equal("+ idling", await a.ReadLineAsync());

        // A second store on the same files is what the admin CLI is (a restore or an import into a live server): it
        // has its own writer connection and its own change bus, so only the server store's data_version check can
        // tell the session.
        var inbox = (await server.Store.Messages.ListMailboxesAsync(server.Account.Id)).Single(m => m.Name == "INBOX");
        await using (var other = await SqliteMailStore.OpenAsync(server.Store.DatabasePath, server.Store.BlobFiles.Root, new StoreOptions(), NullLogger.Instance))
        {
            var blob = await other.Blobs.PutAsync("Subject: from the CLI\r\n\r\nbody\r\n"u8.ToArray());
            await other.Messages.AppendAsync(inbox.Id, blob, [], DateTimeOffset.UtcNow);
        }

        Assert.Equal("* 1 EXISTS", await a.ReadLineAsync(15000));
        await a.SendAsync("DONE\r\n");
        Assert.Equal("i OK IDLE terminated", await a.ReadLineAsync());
    }

    [Fact]
    public async Task Protocol_log_never_contains_passwords()
    {
        var sink = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(sink));
        await using var server = await ImapTestServer.StartAsync(implicitTls: true, configure: o => o.Logging.Protocol = true, loggerFactory: factory);
        await using (var client = await RawImapClient.ConnectAndLoginAsync(server))
        {
            await client.SendAsync("a AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2U=\r\n");
            await client.ReadUntilAsync("a ");
            await client.SendAsync("b NOOP\r\n");
            await client.ReadUntilAsync("b ");
        }

        Assert.Contains(sink.Lines, l => l.Contains("b NOOP", StringComparison.Ordinal));
        Assert.Contains(sink.Lines, l => l.Contains("LOGIN", StringComparison.Ordinal));
        Assert.DoesNotContain(sink.Lines, l => l.Contains("horse", StringComparison.Ordinal) || l.Contains("AGFsaWNl", StringComparison.Ordinal));
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new ListLogger(Lines);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception));
        }
    }
}
