using System.Globalization;
using System.Text;
using Rempart.Imap.Protocol;
using Rempart.Store;

namespace Rempart.Imap;

/// <summary>
/// SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS (RFC 9051 section 6.3;
/// RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 7162 CONDSTORE/QRESYNC parameters).
/// </summary>
public sealed partial class ImapSession
{
    private const char Delimiter = '/';

    private static readonly string[] s_systemFlags = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

    /// <summary>A mailbox name from the client: modified UTF-7 unless UTF-8 was enabled; INBOX in any case is INBOX.</summary>
    private string MailboxName(ImapArg arg)
    {
        var name = AString(arg);
        if (!_utf8)
        {
            name = ModifiedUtf7.Decode(name);
        }

        if (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
        {
            return "INBOX";
        }

        if (name.StartsWith("INBOX/", StringComparison.OrdinalIgnoreCase))
        {
            name = "INBOX" + name[5..];
        }

        return name.TrimEnd(Delimiter);
    }

    private string WireName(string name) => ImapText.Astring(_utf8 ? name : ModifiedUtf7.Encode(name));

    private async Task<MailboxRecord?> FindMailboxAsync(string name, CancellationToken ct) =>
        await _store.Messages.GetMailboxAsync(Account.Id, name, ct);

    private async Task SelectAsync(ImapCommand c, bool readOnly, CancellationToken ct)
    {
        if (c.Args.Count is < 1 or > 2)
        {
            throw new CommandSyntaxException(c.Name + " mailbox [(parameters)]");
        }

        var name = MailboxName(c.Args[0]);
        (long UidValidity, long ModSeq, SequenceSet? Known)? qresync = null;
        if (c.Args.Count == 2)
        {
            var p = c.Args[1];
            if (p.Kind != ImapArgKind.List)
            {
                throw new CommandSyntaxException("Select parameters must be a list");
            }

            for (var i = 0; i < p.Items.Count; i++)
            {
                if (p.Items[i].Is("CONDSTORE"))
                {
                    _condstore = true;
                }
                else if (p.Items[i].Is("QRESYNC") && i + 1 < p.Items.Count && p.Items[i + 1].Kind == ImapArgKind.List)
                {
                    if (!_qresync)
                    {
                        throw new CommandSyntaxException("QRESYNC must be enabled first");
                    }

                    var q = p.Items[++i].Items;
                    if (q.Count < 2 || !long.TryParse(q[0].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var validity)
                        || !long.TryParse(q[1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var modseq))
                    {
                        throw new CommandSyntaxException("Invalid QRESYNC parameter");
                    }

                    qresync = (validity, modseq, q.Count > 2 && q[2].Kind == ImapArgKind.Atom ? ParseSet(q[2]) : null);
                }
                else
                {
                    throw new CommandSyntaxException("Unknown select parameter");
                }
            }
        }

        if (_selected is not null)
        {
            Deselect();
            _state = ImapState.Authenticated;

            // RFC 9051 / RFC 7162: tells the client that untagged responses from here on are about the new mailbox.
            _writer.Untagged("OK [CLOSED] Previous mailbox closed");
        }

        var mailbox = await FindMailboxAsync(name, ct);
        if (mailbox is null)
        {
            No("[NONEXISTENT] No such mailbox");
            return;
        }

        StartWatching(mailbox.Id);
        var messages = await _store.Messages.ListMessagesAsync(mailbox.Id, ct);
        _selected = mailbox;
        _view = [.. messages];
        _heldExpunges.Clear();
        _readOnly = readOnly;
        _state = ImapState.Selected;

        var keywords = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        var firstUnseen = 0;
        for (var i = 0; i < _view.Count; i++)
        {
            foreach (var f in _view[i].Flags)
            {
                if (!f.StartsWith('\\'))
                {
                    keywords.Add(f);
                }
            }

            if (firstUnseen == 0 && !HasFlag(_view[i].Flags, "\\Seen"))
            {
                firstUnseen = i + 1;
            }
        }

        var flags = string.Join(' ', s_systemFlags.Concat(keywords));
        _writer.Untagged("FLAGS (" + flags + ")");
        _writer.Untagged(readOnly ? "OK [PERMANENTFLAGS ()] Read-only mailbox" : "OK [PERMANENTFLAGS (" + flags + " \\*)] Flags permitted");
        _writer.Untagged(_view.Count.ToString(CultureInfo.InvariantCulture) + " EXISTS");
        if (!_rev2)
        {
            _writer.Untagged("0 RECENT");
            if (firstUnseen > 0)
            {
                _writer.Untagged("OK [UNSEEN " + firstUnseen.ToString(CultureInfo.InvariantCulture) + "] First unseen");
            }
        }

        _writer.Untagged("OK [UIDVALIDITY " + mailbox.UidValidity.ToString(CultureInfo.InvariantCulture) + "] UIDs valid");
        _writer.Untagged("OK [UIDNEXT " + mailbox.UidNext.ToString(CultureInfo.InvariantCulture) + "] Predicted next UID");
        _writer.Untagged("OK [HIGHESTMODSEQ " + mailbox.HighestModSeq.ToString(CultureInfo.InvariantCulture) + "] Highest");
        if (_rev2)
        {
            _writer.Untagged("LIST () \"/\" " + WireName(mailbox.Name));
        }

        if (qresync is { } q2 && q2.UidValidity == mailbox.UidValidity)
        {
            // RFC 7162 section 3.2.5.2: what changed since the client's last known mod-sequence.
            var vanished = await _store.Messages.ListExpungedSinceAsync(mailbox.Id, q2.ModSeq, ct);
            var relevant = q2.Known is null ? vanished : vanished.Where(u => q2.Known.Contains(u, long.MaxValue - 1)).ToList();
            if (relevant.Count > 0)
            {
                _writer.Untagged("VANISHED (EARLIER) " + SequenceSet.Format(relevant));
            }

            foreach (var m in await _store.Messages.ListChangedSinceAsync(mailbox.Id, q2.ModSeq, ct))
            {
                var i = IndexOfUid(m.Uid);
                if (i >= 0)
                {
                    _writer.Untagged(FlagsFetch(i + 1, _view[i], includeUid: true));
                }
            }
        }

        Ok(readOnly ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed");
    }

    private async Task CreateAsync(ImapCommand c, CancellationToken ct)
    {
        if (c.Args.Count is < 1 or > 2)
        {
            throw new CommandSyntaxException("CREATE mailbox");
        }

        var name = MailboxName(c.Args[0]);
        if (name.Length == 0 || name.Contains("//", StringComparison.Ordinal) || name.StartsWith(Delimiter) || name.Length > 512)
        {
            throw new CommandSyntaxException("Invalid mailbox name");
        }

        if (await FindMailboxAsync(name, ct) is not null)
        {
            No("[ALREADYEXISTS] Mailbox already exists");
            return;
        }

        // RFC 9051 section 6.3.4: intermediate levels are created as needed.
        var parts = name.Split(Delimiter);
        for (var i = 1; i < parts.Length; i++)
        {
            var parent = string.Join(Delimiter, parts[..i]);
            if (await FindMailboxAsync(parent, ct) is null)
            {
                await _store.Messages.CreateMailboxAsync(Account.Id, parent, null, ct);
            }
        }

        await _store.Messages.CreateMailboxAsync(Account.Id, name, null, ct);
        Ok("CREATE completed");
    }

    private async Task DeleteAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 1);
        var name = MailboxName(c.Args[0]);
        if (name == "INBOX")
        {
            No("[CANNOT] INBOX cannot be deleted");
            return;
        }

        var mailbox = await FindMailboxAsync(name, ct);
        if (mailbox is null)
        {
            No("[NONEXISTENT] No such mailbox");
            return;
        }

        if (_selected?.Id == mailbox.Id)
        {
            Deselect();
            _state = ImapState.Authenticated;
        }

        await _store.Messages.DeleteMailboxAsync(mailbox.Id, ct);
        Ok("DELETE completed");
    }

    private async Task RenameAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 2);
        var from = MailboxName(c.Args[0]);
        var to = MailboxName(c.Args[1]);
        var mailbox = await FindMailboxAsync(from, ct);
        if (mailbox is null)
        {
            No("[NONEXISTENT] No such mailbox");
            return;
        }

        if (to.Length == 0 || await FindMailboxAsync(to, ct) is not null)
        {
            No("[ALREADYEXISTS] Target mailbox exists");
            return;
        }

        await _store.Messages.RenameMailboxAsync(mailbox.Id, to, ct);
        Ok("RENAME completed");
    }

    private async Task SubscribeAsync(ImapCommand c, bool subscribe, CancellationToken ct)
    {
        RequireArgs(c, 1);
        var mailbox = await FindMailboxAsync(MailboxName(c.Args[0]), ct);
        if (mailbox is null)
        {
            No("[NONEXISTENT] No such mailbox");
            return;
        }

        await _store.Messages.SetSubscribedAsync(mailbox.Id, subscribe, ct);
        Ok(subscribe ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
    }

    private async Task ListAsync(ImapCommand c, bool lsub, CancellationToken ct)
    {
        var args = c.Args;
        var i = 0;
        bool selSubscribed = false, selSpecialUse = false, recursive = false;
        if (!lsub && args.Count > 0 && args[0].Kind == ImapArgKind.List)
        {
            foreach (var opt in args[0].Items)
            {
                switch (opt.Text.ToUpperInvariant())
                {
                    case "SUBSCRIBED": selSubscribed = true; break;
                    case "SPECIAL-USE": selSpecialUse = true; break;
                    case "RECURSIVEMATCH": recursive = true; break;
                    case "REMOTE": break;
                    default: throw new CommandSyntaxException("Unknown LIST selection option");
                }
            }

            i++;
        }

        if (args.Count < i + 2)
        {
            throw new CommandSyntaxException(c.Name + " reference mailbox-pattern");
        }

        var reference = AString(args[i]);
        var patternsArg = args[i + 1];
        var patterns = patternsArg.Kind == ImapArgKind.List ? patternsArg.Items.Select(AString).ToList() : [AString(patternsArg)];
        i += 2;

        bool retSubscribed = false, retChildren = false, retSpecialUse = false;
        string[]? statusItems = null;
        if (!lsub && i < args.Count)
        {
            if (!args[i].Is("RETURN") || i + 1 >= args.Count || args[i + 1].Kind != ImapArgKind.List)
            {
                throw new CommandSyntaxException("Expected RETURN (options)");
            }

            var ret = args[i + 1].Items;
            for (var r = 0; r < ret.Count; r++)
            {
                switch (ret[r].Text.ToUpperInvariant())
                {
                    case "SUBSCRIBED": retSubscribed = true; break;
                    case "CHILDREN": retChildren = true; break;
                    case "SPECIAL-USE": retSpecialUse = true; break;
                    case "STATUS" when r + 1 < ret.Count && ret[r + 1].Kind == ImapArgKind.List:
                        statusItems = [.. ret[++r].Items.Select(x => x.Text.ToUpperInvariant())];
                        break;
                    default: throw new CommandSyntaxException("Unknown LIST return option");
                }
            }

            i += 2;
        }

        if (i != args.Count)
        {
            throw new CommandSyntaxException("Too many arguments");
        }

        if (recursive && !selSubscribed)
        {
            throw new CommandSyntaxException("RECURSIVEMATCH needs another selection option");
        }

        _ = retChildren;
        _ = retSpecialUse;
        if (patterns.Count == 1 && patterns[0].Length == 0)
        {
            // RFC 9051 section 6.3.9: an empty pattern asks for the hierarchy delimiter.
            _writer.Untagged((lsub ? "LSUB" : "LIST") + " (\\Noselect) \"/\" \"\"");
            Ok(c.Name + " completed");
            return;
        }

        var mailboxes = await _store.Messages.ListMailboxesAsync(Account.Id, ct);
        var names = new HashSet<string>(mailboxes.Select(m => m.Name), StringComparer.Ordinal);
        foreach (var mailbox in mailboxes.OrderBy(m => m.Name == "INBOX" ? 0 : 1).ThenBy(m => m.Name, StringComparer.Ordinal))
        {
            var matched = false;
            foreach (var pattern in patterns)
            {
                var full = _utf8 ? reference + pattern : ModifiedUtf7.Decode(reference + pattern);
                if (Matches(mailbox.Name, full))
                {
                    matched = true;
                    break;
                }
            }

            if (!matched)
            {
                continue;
            }

            if ((lsub || selSubscribed) && !mailbox.Subscribed)
            {
                continue;
            }

            var special = NormalizeSpecialUse(mailbox.SpecialUse);
            if (selSpecialUse && special is null)
            {
                continue;
            }

            var attrs = new List<string>();
            var hasChildren = names.Any(n => n.StartsWith(mailbox.Name + Delimiter, StringComparison.Ordinal));
            if (!lsub)
            {
                attrs.Add(hasChildren ? "\\HasChildren" : "\\HasNoChildren");
            }

            if (!lsub && (retSubscribed || selSubscribed) && mailbox.Subscribed)
            {
                attrs.Add("\\Subscribed");
            }

            // RFC 6154 section 5.1: special-use attributes go out even when not asked for.
            if (special is not null && !lsub)
            {
                attrs.Add(special);
            }

            _writer.Untagged((lsub ? "LSUB (" : "LIST (") + string.Join(' ', attrs) + ") \"/\" " + WireName(mailbox.Name));
            if (statusItems is not null)
            {
                await WriteStatusAsync(mailbox, statusItems, ct);
            }
        }

        Ok(c.Name + " completed");
    }

    private static string? NormalizeSpecialUse(string? specialUse)
    {
        if (string.IsNullOrWhiteSpace(specialUse))
        {
            return null;
        }

        var s = specialUse.Trim();
        s = s.StartsWith('\\') ? s[1..] : s;
        return s.Length == 0 ? null : "\\" + char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
    }

    /// <summary>RFC 9051 section 6.3.9 wildcards: "*" matches anything, "%" anything but the delimiter.</summary>
    internal static bool Matches(string name, string pattern)
    {
        if (pattern.StartsWith("INBOX", StringComparison.OrdinalIgnoreCase) && name.StartsWith("INBOX", StringComparison.Ordinal))
        {
            pattern = "INBOX" + pattern[5..];
        }

        return Match(name, 0, pattern, 0, 0);
    }

    private static bool Match(string name, int n, string pattern, int p, int depth)
    {
        if (depth > 32)
        {
            return false;
        }

        while (p < pattern.Length)
        {
            var c = pattern[p];
            if (c is '*' or '%')
            {
                p++;
                for (var k = n; k <= name.Length; k++)
                {
                    if (Match(name, k, pattern, p, depth + 1))
                    {
                        return true;
                    }

                    if (k < name.Length && c == '%' && name[k] == Delimiter)
                    {
                        return false;
                    }
                }

                return false;
            }

            if (n >= name.Length || name[n] != c)
            {
                return false;
            }

            n++;
            p++;
        }

        return n == name.Length;
    }

    private async Task StatusAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 2);
        var name = MailboxName(c.Args[0]);
        if (c.Args[1].Kind != ImapArgKind.List || c.Args[1].Items.Count == 0)
        {
            throw new CommandSyntaxException("STATUS mailbox (items)");
        }

        var items = c.Args[1].Items.Select(x => x.Text.ToUpperInvariant()).ToArray();
        foreach (var item in items)
        {
            if (item is not ("MESSAGES" or "UIDNEXT" or "UIDVALIDITY" or "UNSEEN" or "DELETED" or "SIZE" or "HIGHESTMODSEQ" or "RECENT"))
            {
                throw new CommandSyntaxException("Unknown STATUS item " + item);
            }
        }

        var mailbox = await FindMailboxAsync(name, ct);
        if (mailbox is null)
        {
            No("[NONEXISTENT] No such mailbox");
            return;
        }

        await WriteStatusAsync(mailbox, items, ct);
        Ok("STATUS completed");
    }

    private async Task WriteStatusAsync(MailboxRecord mailbox, string[] items, CancellationToken ct)
    {
        var sb = new StringBuilder("STATUS ").Append(WireName(mailbox.Name)).Append(" (");
        var first = true;
        IReadOnlyList<MessageRecord>? messages = null;
        foreach (var item in items)
        {
            long value;
            switch (item)
            {
                case "MESSAGES": value = mailbox.MessageCount; break;
                case "UIDNEXT": value = mailbox.UidNext; break;
                case "UIDVALIDITY": value = mailbox.UidValidity; break;
                case "UNSEEN": value = mailbox.UnseenCount; break;
                case "SIZE": value = mailbox.Size; break;
                case "HIGHESTMODSEQ": value = mailbox.HighestModSeq; break;
                case "RECENT": value = 0; break;
                case "DELETED":
                    messages ??= await _store.Messages.ListMessagesAsync(mailbox.Id, ct);
                    value = messages.Count(m => HasFlag(m.Flags, "\\Deleted"));
                    break;
                default: continue;
            }

            if (!first)
            {
                sb.Append(' ');
            }

            first = false;
            sb.Append(item).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture));
        }

        _writer.Untagged(sb.Append(')').ToString());
    }
}
