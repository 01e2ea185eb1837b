using System.Globalization;
using Rempart.Imap.Protocol;
using Rempart.Store;

namespace Rempart.Imap;

/// <summary>STORE and UID STORE (RFC 9051 section 6.4.6; RFC 7162 UNCHANGEDSINCE and MODIFIED).</summary>
public sealed partial class ImapSession
{
    private async Task StoreAsync(ImapCommand c, bool uid, CancellationToken ct)
    {
        if (c.Args.Count is < 3 or > 4)
        {
            throw new CommandSyntaxException("STORE sequence-set [(UNCHANGEDSINCE n)] item flags");
        }

        var set = ParseSet(c.Args[0]);
        var index = 1;
        long? unchangedSince = null;
        if (c.Args[1].Kind == ImapArgKind.List)
        {
            var mods = c.Args[1].Items;
            if (mods.Count != 2 || !mods[0].Is("UNCHANGEDSINCE") || !long.TryParse(mods[1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var since))
            {
                throw new CommandSyntaxException("Unknown STORE modifier");
            }

            unchangedSince = since;
            _condstore = true;
            index++;
        }

        if (c.Args.Count != index + 2)
        {
            throw new CommandSyntaxException("STORE sequence-set item flags");
        }

        var action = c.Args[index].Text.ToUpperInvariant();
        var silent = action.EndsWith(".SILENT", StringComparison.Ordinal);
        var operation = action switch
        {
            "FLAGS" or "FLAGS.SILENT" => FlagOperation.Replace,
            "+FLAGS" or "+FLAGS.SILENT" => FlagOperation.Add,
            "-FLAGS" or "-FLAGS.SILENT" => FlagOperation.Remove,
            _ => throw new CommandSyntaxException("Unknown STORE item " + action),
        };
        var flags = ParseFlagList(c.Args[index + 1], allowRecent: true);
        if (_readOnly)
        {
            No("[READ-ONLY] Mailbox is read-only");
            return;
        }

        var messages = Resolve(set, uid);
        if (messages.Count == 0)
        {
            Ok("STORE completed");
            return;
        }

        var result = await _store.Messages.StoreFlagsAsync(Selected.Id, [.. messages.Select(m => m.Message.Uid)], operation, flags, unchangedSince, ct);
        var changed = new HashSet<long>();
        foreach (var m in result.Changed)
        {
            UpdateView(m);
            changed.Add(m.Uid);
        }

        var failed = new HashSet<long>(result.Failed);
        foreach (var (seq, message) in messages)
        {
            if (failed.Contains(message.Uid))
            {
                continue;
            }

            // RFC 7162 section 3.1.3: with UNCHANGEDSINCE the new MODSEQ is reported even for .SILENT.
            if (!silent || (unchangedSince is not null && changed.Contains(message.Uid)))
            {
                var i = IndexOfUid(message.Uid);
                if (i >= 0)
                {
                    _writer.Untagged(silent ? ModSeqFetch(seq, _view[i], uid) : FlagsFetch(seq, _view[i], includeUid: uid));
                }
            }
        }

        if (failed.Count > 0)
        {
            var failedNumbers = uid ? failed : messages.Where(m => failed.Contains(m.Message.Uid)).Select(m => (long)m.Seq);
            Ok("[MODIFIED " + SequenceSet.Format(failedNumbers) + "] Conditional STORE failed");
            return;
        }

        Ok("STORE completed");
    }

    private static string ModSeqFetch(int seq, MessageRecord m, bool uid) =>
        string.Create(CultureInfo.InvariantCulture, $"{seq} FETCH ({(uid ? "UID " + m.Uid.ToString(CultureInfo.InvariantCulture) + " " : string.Empty)}MODSEQ ({m.ModSeq}))");
}
