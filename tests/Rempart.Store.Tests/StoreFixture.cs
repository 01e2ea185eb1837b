using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Store.Sqlite;

namespace Rempart.Store.Tests;

/// <summary>A store on real files in a fresh temp folder, removed on dispose.</summary>
internal sealed class TempStore : IAsyncDisposable
{
    private TempStore(string root, StoreOptions options)
    {
        Root = root;
        Options = options;
    }

    public string Root { get; }

    public StoreOptions Options { get; }

    public string DatabasePath => Path.Combine(Root, "rempart.db");

    public string BlobsPath => Path.Combine(Root, "blobs");

    public SqliteMailStore Store { get; private set; } = null!;

    public static async Task<TempStore> CreateAsync(StoreOptions? options = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "rempart-store-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var temp = new TempStore(root, options ?? new StoreOptions());
        temp.Store = await temp.OpenAsync();
        return temp;
    }

    public Task<SqliteMailStore> OpenAsync() =>
        SqliteMailStore.OpenAsync(DatabasePath, BlobsPath, Options, NullLogger.Instance);

    public async Task ReopenAsync()
    {
        await Store.DisposeAsync();
        Store = await OpenAsync();
    }

    /// <summary>Queues a write that blocks the writer loop until <paramref name="gate"/> is set, and waits until it runs.</summary>
    public async Task<Task<bool>> HoldWriterAsync(ManualResetEventSlim gate)
    {
        using var running = new SemaphoreSlim(0);
        var blocker = Store.WriteAsync(
            _ =>
            {
                // Running means the writer has finished draining the channel for this batch.
                running.Release();
                return gate.Wait(TimeSpan.FromSeconds(30));
            },
            CancellationToken.None);
        Assert.True(await running.WaitAsync(TimeSpan.FromSeconds(30)));
        return blocker;
    }

    /// <summary>
    /// Starts a stream of writes with no gap in it: each write queues the next before it returns, so the writer always
    /// finds another write waiting, until <paramref name="stop"/> is cancelled. <paramref name="onLink"/> runs in every
    /// write. The returned task ends once the last write ran.
    /// </summary>
    public async Task<Task> StartWriteChainAsync(CancellationToken stop, Action<WriteOp>? onLink = null)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool Link(WriteOp op)
        {
            onLink?.Invoke(op);
            if (stop.IsCancellationRequested)
            {
                done.TrySetResult();
                return true;
            }

            _ = Store.WriteAsync(Link, CancellationToken.None);
            return true;
        }

        await Store.WriteAsync(Link, CancellationToken.None);
        return done.Task;
    }

    public async Task<AccountRecord> AddAccountAsync(string address, long? maxBytes = null, long? maxMessages = null)
    {
        var domain = address[(address.LastIndexOf('@') + 1)..];
        if (!await Store.Directory.IsLocalDomainAsync(domain))
        {
            await Store.Directory.AddDomainAsync(domain);
        }

        return await Store.Directory.AddAccountAsync(new NewAccount(address, "$argon2id$test", MaxBytes: maxBytes, MaxMessages: maxMessages));
    }

    public async Task<MailboxRecord> InboxAsync(long accountId) =>
        (await Store.Messages.GetMailboxAsync(accountId, "INBOX"))!;

    public Task<BlobRef> PutAsync(byte[] raw) => Store.Blobs.PutAsync(raw);

    public async Task<AppendResult> AppendAsync(long mailboxId, string subject, string body = "hello", params string[] flags)
    {
        var blob = await PutAsync(Messages.Plain(subject, body));
        return await Store.Messages.AppendAsync(mailboxId, blob, flags, DateTimeOffset.UtcNow);
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

internal static class Messages
{
    private static int _counter;

    public static byte[] Plain(string subject, string body, string from = "alice@example.org", string to = "bob@example.com")
    {
        var n = Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture);
        return Encoding.UTF8.GetBytes(
            $"From: Alice <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n" +
            $"Message-ID: <m{n}.{Guid.NewGuid():N}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
    }

    public static byte[] Html(string subject, string html) =>
        Encoding.UTF8.GetBytes(
            $"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
            "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--b1--\r\n");
}
