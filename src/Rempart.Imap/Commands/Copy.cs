using System.Globalization;
using Microsoft.Extensions.Logging;
using Rempart.Imap.Protocol;
using Rempart.Store;

namespace Rempart.Imap;

/// <summary>COPY, MOVE and their UID forms (RFC 9051 sections 6.4.7, 6.4.8; RFC 4315 COPYUID; RFC 6851).</summary>
public sealed partial class ImapSession
{
    /// <summary>Told when the user files mail into or out of Junk (RFC 6154 \Junk special use).</summary>
    internal IMailFeedback Feedback { get; init; } = NoMailFeedback.Instance;

    private async Task CopyAsync(ImapCommand c, bool uid, bool move, CancellationToken ct)
    {
        RequireArgs(c, 2);
        var set = ParseSet(c.Args[0]);
        var target = await FindMailboxAsync(MailboxName(c.Args[1]), ct);
        if (target is null)
        {
            No("[TRYCREATE] No such mailbox");
            return;
        }

        if (move && _readOnly)
        {
            No("[READ-ONLY] Mailbox is read-only");
            return;
        }

        var messages = Resolve(set, uid);
        if (messages.Count == 0)
        {
            Ok(uid ? "No messages matched" : "Nothing to do");
            return;
        }

        var result = await _store.Messages.CopyAsync(Selected.Id, [.. messages.Select(m => m.Message.Uid)], target.Id, move, ct);
        await ReportJunkFeedbackAsync(Selected, target, messages.Select(m => m.Message.BlobHash), ct);
        var copyUid = "COPYUID " + result.UidValidity.ToString(CultureInfo.InvariantCulture) + " "
            + string.Join(',', result.SourceUids.Select(u => u.ToString(CultureInfo.InvariantCulture))) + " "
            + string.Join(',', result.TargetUids.Select(u => u.ToString(CultureInfo.InvariantCulture)));
        if (!move)
        {
            Ok("[" + copyUid + "] COPY completed");
            return;
        }

        // RFC 6851 section 4.3: COPYUID comes in an untagged OK before the expunges.
        _writer.Untagged("OK [" + copyUid + "] Moved");
        ReportExpunged(result.SourceUids.ToList());
        Ok("MOVE completed");
    }

    /// <summary>
    /// Into \Junk: the user says spam. Out of \Junk into anything but \Trash: the user says not spam (deleting a
    /// junk message says nothing). The copy has already succeeded, so a listener failure is logged, not reported.
    /// </summary>
    private async Task ReportJunkFeedbackAsync(MailboxRecord source, MailboxRecord target, IEnumerable<string> blobHashes, CancellationToken ct)
    {
        var intoJunk = IsSpecialUse(target, @"\Junk") && !IsSpecialUse(source, @"\Junk");
        var outOfJunk = IsSpecialUse(source, @"\Junk") && !IsSpecialUse(target, @"\Junk") && !IsSpecialUse(target, @"\Trash");
        if ((!intoJunk && !outOfJunk) || _account is null || ReferenceEquals(Feedback, NoMailFeedback.Instance))
        {
            return;
        }

        try
        {
            await Feedback.OnJunkClassifiedAsync(_account.Id, [.. blobHashes], intoJunk, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogWarning(ex, "Junk feedback for account {AccountId} failed", _account.Id);
        }
    }

    private static bool IsSpecialUse(MailboxRecord mailbox, string use) =>
        mailbox.SpecialUse is { } s && s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(use, StringComparer.OrdinalIgnoreCase);
}
