using System.Globalization;
using Rempart.Imap.Protocol;

namespace Rempart.Imap;

/// <summary>CHECK, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE (RFC 9051 sections 6.4.1-6.4.3, 6.4.9; RFC 4315).</summary>
public sealed partial class ImapSession
{
    private Task CheckAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        RequireArgs(c, 0);
        Ok("CHECK completed");
        return Task.CompletedTask;
    }

    private async Task CloseAsync(ImapCommand c, bool expunge, CancellationToken ct)
    {
        RequireArgs(c, 0);
        if (expunge && !_readOnly)
        {
            // RFC 9051 section 6.4.1: CLOSE expunges silently.
            await _store.Messages.ExpungeAsync(Selected.Id, null, ct);
        }

        Deselect();
        _state = ImapState.Authenticated;
        Ok(expunge ? "CLOSE completed" : "UNSELECT completed");
    }

    private async Task ExpungeAsync(ImapCommand c, bool uid, CancellationToken ct)
    {
        RequireArgs(c, uid ? 1 : 0);
        if (_readOnly)
        {
            No("[READ-ONLY] Mailbox is read-only");
            return;
        }

        List<long>? only = null;
        if (uid)
        {
            var set = ParseSet(c.Args[0]);
            only = [.. Resolve(set, uid: true).Select(x => x.Message.Uid)];
        }

        var removed = await _store.Messages.ExpungeAsync(Selected.Id, only, ct);
        ReportExpunged(removed);
        Ok("EXPUNGE completed");
    }

    /// <summary>EXPUNGE (highest sequence number first) or VANISHED for messages this session removed.</summary>
    private void ReportExpunged(IReadOnlyCollection<long> uids)
    {
        if (uids.Count == 0)
        {
            return;
        }

        var gone = new HashSet<long>(uids);
        var vanished = new List<long>();
        for (var i = _view.Count - 1; i >= 0; i--)
        {
            if (gone.Contains(_view[i].Uid))
            {
                if (!_qresync)
                {
                    _writer.Untagged((i + 1).ToString(CultureInfo.InvariantCulture) + " EXPUNGE");
                }

                vanished.Add(_view[i].Uid);
                _heldExpunges.Remove(_view[i].Uid);
                _view.RemoveAt(i);
            }
        }

        if (_qresync && vanished.Count > 0)
        {
            _writer.Untagged("VANISHED " + SequenceSet.Format(vanished));
        }
    }
}
