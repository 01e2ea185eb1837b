using MimeKit;
using Rempart.Store;

namespace Rempart.Smtp.Queue;

/// <summary>One queue entry as the CLI lists it.</summary>
/// <param name="Sender">Envelope sender; "&lt;&gt;" for the null sender.</param>
public sealed record QueueItem(
    long Id,
    string Domain,
    string Sender,
    IReadOnlyList<string> Recipients,
    long Size,
    DateTimeOffset Created,
    DateTimeOffset NextAttempt,
    DateTimeOffset Expires,
    int Attempts,
    string? LastError,
    string? Route);

/// <summary>One queue entry in detail (<c>rempart queue show</c>).</summary>
public sealed record QueueItemDetail(
    QueueItem Item,
    IReadOnlyList<QueueRecipient> Recipients,
    string BlobHash,
    string? EnvelopeId,
    string? Ret,
    bool DelayNoticeSent,
    string? Subject,
    string? From,
    string? MessageId,
    string? Headers);

/// <summary>
/// The queue operations behind <c>rempart queue list|show|retry|delete</c>. Works on the store alone, so it can run
/// in the CLI process while the server's runner picks the changes up on its next scan (at most 30 s later).
/// </summary>
public sealed class QueueAdmin
{
    /// <summary>Longest header block shown by <see cref="ShowAsync"/>.</summary>
    private const int MaxHeaderChars = 16 * 1024;

    private readonly IMailStore _store;
    private readonly TimeProvider _time;
    private readonly Action? _wake;

    /// <param name="wake">The in-process runner's <see cref="QueueRunner.Wake"/>, when there is one.</param>
    public QueueAdmin(IMailStore store, TimeProvider? time = null, Action? wake = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _time = time ?? TimeProvider.System;
        _wake = wake;
    }

    public async Task<IReadOnlyList<QueueItem>> ListAsync(CancellationToken ct = default)
    {
        var entries = await _store.Queue.ListAsync(ct);
        return entries.Select(ToItem).ToList();
    }

    /// <summary>The entry with its message headers, or null when there is no such entry.</summary>
    public async Task<QueueItemDetail?> ShowAsync(long id, CancellationToken ct = default)
    {
        var entry = await _store.Queue.GetAsync(id, ct);
        if (entry is null)
        {
            return null;
        }

        string? subject = null, from = null, messageId = null, headers = null;
        if (_store.Blobs.Exists(entry.Blob.Hash))
        {
            await using var content = _store.Blobs.Open(entry.Blob.Hash);
            var parsed = await HeaderList.LoadAsync(content, ct);
            subject = parsed[HeaderId.Subject];
            from = parsed[HeaderId.From];
            messageId = parsed[HeaderId.MessageId];
            headers = string.Concat(parsed.Select(h => h.ToString() + "\n"));
            if (headers.Length > MaxHeaderChars)
            {
                headers = headers[..MaxHeaderChars] + "\n[...]";
            }
        }

        return new QueueItemDetail(ToItem(entry), entry.Recipients, entry.Blob.Hash, entry.EnvelopeId, entry.Ret, entry.DelayNoticeSent, subject, from, messageId, headers);
    }

    /// <summary>Makes one entry (or all, with null) due now. Returns how many entries changed.</summary>
    public async Task<int> RetryAsync(long? id, CancellationToken ct = default)
    {
        var count = await _store.Queue.RetryNowAsync(id, _time.GetUtcNow(), ct);
        _wake?.Invoke();
        return count;
    }

    /// <summary>Removes an entry without a DSN (the admin decided). False when there was no such entry.</summary>
    public Task<bool> DeleteAsync(long id, CancellationToken ct = default) => _store.Queue.DeleteAsync(id, ct);

    private static QueueItem ToItem(QueueEntry e) => new(
        e.Id,
        e.Domain,
        string.IsNullOrEmpty(e.Sender) ? "<>" : e.Sender,
        e.Recipients.Select(r => r.Address).ToList(),
        e.Blob.Size,
        e.Created,
        e.NextAttempt,
        e.Expires,
        e.Attempts,
        e.LastError,
        e.Route);
}
