using System.Text;
using Rempart.Imap.Protocol;
using Rempart.Store;

namespace Rempart.Imap;

/// <summary>
/// The selected mailbox as this session sees it: UIDs in sequence-number order plus the flags it last reported.
/// Other sessions' changes are merged in at sync points (RFC 9051 section 7.5.1); expunges are held back while a
/// command that uses sequence numbers runs, so numbers never shift under the client.
/// </summary>
public sealed partial class ImapSession
{
    private MailboxRecord? _selected;
    private bool _readOnly;
    private List<MessageRecord> _view = [];

    /// <summary>UIDs of the view expunged elsewhere and not yet reported (held back during sequence-number commands).</summary>
    private readonly HashSet<long> _heldExpunges = [];
    private IDisposable? _subscription;
    private volatile int _dirty;
    private SemaphoreSlim? _wake;

    private MailboxRecord Selected => _selected ?? throw new InvalidOperationException("No mailbox selected");

    private long MaxUid => _view.Count == 0 ? 0 : _view[^1].Uid;

    private void Deselect()
    {
        _subscription?.Dispose();
        _subscription = null;
        _wake?.Dispose();
        _wake = null;
        _selected = null;
        _view = [];
        _heldExpunges.Clear();
    }

    private void StartWatching(long mailboxId)
    {
        _subscription?.Dispose();
        _wake?.Dispose();
        var wake = new SemaphoreSlim(0, 1);
        _wake = wake;
        _subscription = _store.Changes.Subscribe(mailboxId, _ =>
        {
            _dirty = 1;
            try
            {
                if (wake.CurrentCount == 0)
                {
                    wake.Release();
                }
            }
            catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
            {
                // Already signalled, or the session moved on.
            }
        });
    }

    /// <summary>Index of a UID in the view, or -1.</summary>
    private int IndexOfUid(long uid)
    {
        int lo = 0, hi = _view.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var v = _view[mid].Uid;
            if (v == uid)
            {
                return mid;
            }

            if (v < uid)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return -1;
    }

    /// <summary>Messages of the view addressed by a sequence set, with their sequence numbers, ascending.</summary>
    private List<(int Seq, MessageRecord Message)> Resolve(SequenceSet set, bool uid)
    {
        var result = new List<(int, MessageRecord)>();
        if (uid)
        {
            var max = MaxUid;
            for (var i = 0; i < _view.Count; i++)
            {
                if (set.Contains(_view[i].Uid, max))
                {
                    result.Add((i + 1, _view[i]));
                }
            }
        }
        else
        {
            foreach (var (from, to) in set.Ranges)
            {
                // RFC 9051 section 9: a sequence number beyond the mailbox is an error ("*" is always valid).
                if ((from != long.MaxValue && from > _view.Count) || (to != long.MaxValue && to > _view.Count))
                {
                    throw new CommandSyntaxException("Invalid message sequence number");
                }
            }

            for (var i = 0; i < _view.Count; i++)
            {
                if (set.Contains(i + 1, _view.Count))
                {
                    result.Add((i + 1, _view[i]));
                }
            }
        }

        return result;
    }

    private static SequenceSet ParseSet(ImapArg arg)
    {
        if (arg.Kind != ImapArgKind.Atom || !SequenceSet.TryParse(arg.Text, out var set))
        {
            throw new CommandSyntaxException("Invalid sequence set");
        }

        return set;
    }

    /// <summary>Replaces one message of the view after this session changed it (so sync does not report it twice).</summary>
    private void UpdateView(MessageRecord changed)
    {
        var i = IndexOfUid(changed.Uid);
        if (i >= 0)
        {
            _view[i] = changed;
        }
    }

    /// <summary>
    /// Sends EXISTS, FETCH FLAGS and (when allowed) EXPUNGE/VANISHED for changes made elsewhere. The view follows the
    /// mailbox by mod-sequence: only messages changed and UIDs expunged since the last sync are read, and the message
    /// count from the same snapshot checks the result (a mismatch falls back to comparing the whole list).
    /// </summary>
    private async Task SyncAsync(bool allowExpunge, CancellationToken ct)
    {
        if (_selected is null)
        {
            return;
        }

        Interlocked.Exchange(ref _dirty, 0);
        var changes = await _store.Messages.GetChangesSinceAsync(_selected.Id, _selected.HighestModSeq, ct);
        if (changes is null)
        {
            // Deleted or renamed away by another session: nothing sensible to show any more.
            _writer.Untagged("BYE Selected mailbox was deleted");
            _state = ImapState.Logout;
            return;
        }

        if (changes.HighestModSeq == _selected.HighestModSeq && changes.UidNext == _selected.UidNext
            && changes.MessageCount == _view.Count - _heldExpunges.Count && (!allowExpunge || _heldExpunges.Count == 0))
        {
            return;
        }

        ApplyChanges(changes.Changed, changes.Expunged, allowExpunge);
        if (_view.Count - _heldExpunges.Count != changes.MessageCount)
        {
            // Messages went (or came) without a mod-sequence this view could follow: compare with the whole list.
            var current = await _store.Messages.ListMessagesAsync(_selected.Id, ct);
            var present = new HashSet<long>(current.Count);
            foreach (var m in current)
            {
                present.Add(m.Uid);
            }

            var gone = new List<long>();
            foreach (var m in _view)
            {
                if (!present.Contains(m.Uid))
                {
                    gone.Add(m.Uid);
                }
            }

            ApplyChanges(current, gone, allowExpunge);
        }

        // Remember what was reported (the view now reflects every change up to this mod-sequence).
        _selected = _selected with { UidNext = changes.UidNext, HighestModSeq = changes.HighestModSeq };
    }

    /// <summary>
    /// Merges changed or new messages (UID order) and expunged UIDs into the view and reports them. Expunges are held
    /// back, and reported at a later sync, while a command that uses sequence numbers runs (RFC 9051 section 7.5.1).
    /// </summary>
    private void ApplyChanges(IReadOnlyList<MessageRecord> changed, IReadOnlyList<long> expunged, bool allowExpunge)
    {
        foreach (var uid in expunged)
        {
            if (IndexOfUid(uid) >= 0)
            {
                _heldExpunges.Add(uid);
            }
        }

        if (allowExpunge && _heldExpunges.Count > 0)
        {
            var vanished = new List<long>();
            for (var i = _view.Count - 1; i >= 0; i--)
            {
                if (_heldExpunges.Contains(_view[i].Uid))
                {
                    if (!_qresync)
                    {
                        _writer.Untagged((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) + " EXPUNGE");
                    }

                    vanished.Add(_view[i].Uid);
                    _view.RemoveAt(i);
                }
            }

            _heldExpunges.Clear();
            if (_qresync && vanished.Count > 0)
            {
                // RFC 7162 section 3.2.10: QRESYNC clients get VANISHED instead of EXPUNGE.
                _writer.Untagged("VANISHED " + SequenceSet.Format(vanished));
            }
        }

        var added = false;
        foreach (var now in changed)
        {
            if (now.Uid > MaxUid)
            {
                _view.Add(now);
                added = true;
                continue;
            }

            var i = IndexOfUid(now.Uid);
            if (i < 0)
            {
                continue;
            }

            var old = _view[i];
            if (now.ModSeq != old.ModSeq || !SameFlags(now.Flags, old.Flags))
            {
                _view[i] = now;
                if (!SameFlags(now.Flags, old.Flags) || _condstore)
                {
                    _writer.Untagged(FlagsFetch(i + 1, now, includeUid: _qresync || _condstore));
                }
            }
        }

        if (added)
        {
            _writer.Untagged(_view.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) + " EXISTS");
        }
    }

    private string FlagsFetch(int seq, MessageRecord m, bool includeUid)
    {
        var sb = new StringBuilder();
        sb.Append(seq).Append(" FETCH (");
        if (includeUid)
        {
            sb.Append("UID ").Append(m.Uid).Append(' ');
        }

        sb.Append("FLAGS ").Append(ImapText.Flags(m.Flags));
        if (_condstore)
        {
            sb.Append(" MODSEQ (").Append(m.ModSeq).Append(')');
        }

        return sb.Append(')').ToString();
    }

    private static bool SameFlags(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var f in a)
        {
            if (!HasFlag(b, f))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasFlag(IReadOnlyList<string> flags, string flag)
    {
        foreach (var f in flags)
        {
            if (f.Equals(flag, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
