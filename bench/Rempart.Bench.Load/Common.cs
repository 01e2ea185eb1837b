using System.Globalization;
using System.Net;

namespace Rempart.Bench.Load;

/// <summary>Settings shared by the modes: where IMAP is, which accounts, how long anything may take.</summary>
internal sealed class Target
{
    public required IPEndPoint Imap { get; init; }
    public bool ImapTls { get; init; } = true;
    public required string UserFormat { get; init; }
    public required string Password { get; init; }
    public int Mailboxes { get; init; }
    public TimeSpan OpTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public static Target From(Options o) => new()
    {
        Imap = o.Endpoint("imap"),
        ImapTls = !o.Flag("imap-plain"),
        UserFormat = o.Str("user-format", "bench{0:000}@example.test"),
        Password = o.Str("password"),
        Mailboxes = o.Int("mailboxes", 100),
        OpTimeout = TimeSpan.FromSeconds(o.Int("op-timeout-s", 120)),
    };

    /// <summary>Mailbox index 0..K-1 → account name (numbered from 1).</summary>
    public string User(int index) => string.Format(CultureInfo.InvariantCulture, UserFormat, index + 1);

    public Task<ImapClient> LoginAsync(int index, CancellationToken ct) =>
        ImapClient.LoginAsync(Imap, ImapTls, User(index), Password, OpTimeout, ct);
}

internal static class Parallel2
{
    /// <summary>Runs <paramref name="body"/> for 0..count-1 with at most <paramref name="width"/> at once; the first failure is rethrown.</summary>
    public static async Task ForAsync(int count, int width, Func<int, Task> body)
    {
        var next = -1;
        var workers = Enumerable.Range(0, Math.Max(1, Math.Min(width, count))).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await body(i);
            }
        });
        await Task.WhenAll(workers);
    }
}
