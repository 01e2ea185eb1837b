namespace Rempart.Store;

/// <summary>
/// What users teach the server through their mail clients. IMAP calls it when a message is moved or copied into the
/// Junk folder (special use \Junk, RFC 6154) or out of it into any folder other than Trash; the anti-spam classifier
/// learns from it for that user (Rempart.Antispam).
/// </summary>
public interface IMailFeedback
{
    /// <param name="accountId">The mailbox owner.</param>
    /// <param name="blobHashes">The messages' content (blob hashes) as stored.</param>
    /// <param name="isJunk">True when moved into Junk, false when moved out of it.</param>
    ValueTask OnJunkClassifiedAsync(long accountId, IReadOnlyList<string> blobHashes, bool isJunk, CancellationToken ct);
}

/// <summary>Nobody listens (tests and servers without anti-spam).</summary>
public sealed class NoMailFeedback : IMailFeedback
{
    public static readonly NoMailFeedback Instance = new();

    public ValueTask OnJunkClassifiedAsync(long accountId, IReadOnlyList<string> blobHashes, bool isJunk, CancellationToken ct) => ValueTask.CompletedTask;
}
