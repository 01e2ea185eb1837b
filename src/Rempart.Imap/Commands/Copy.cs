using System.Globalization;
using Rempart.Imap.Protocol;

namespace Rempart.Imap;

/// <summary>COPY, MOVE and their UID forms (RFC 9051 sections 6.4.7, 6.4.8; RFC 4315 COPYUID; RFC 6851).</summary>
public sealed partial class ImapSession
{
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
        _store.Changes.Publish(target.Id);
        var copyUid = "COPYUID " + result.UidValidity.ToString(CultureInfo.InvariantCulture) + " "
            + string.Join(',', result.SourceUids.Select(u => u.ToString(CultureInfo.InvariantCulture))) + " "
            + string.Join(',', result.TargetUids.Select(u => u.ToString(CultureInfo.InvariantCulture)));
        if (!move)
        {
            Ok("[" + copyUid + "] COPY completed");
            return;
        }

        // RFC 6851 section 4.3: COPYUID comes in an untagged OK before the expunges.
        _store.Changes.Publish(Selected.Id);
        _writer.Untagged("OK [" + copyUid + "] Moved");
        ReportExpunged(result.SourceUids.ToList());
        Ok("MOVE completed");
    }
}
