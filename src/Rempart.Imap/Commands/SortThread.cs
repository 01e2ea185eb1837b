using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using MimeKit;
using Rempart.Imap.Messages;
using Rempart.Imap.Protocol;
using Rempart.Store;

namespace Rempart.Imap;

/// <summary>SORT and THREAD (RFC 5256: ORDEREDSUBJECT and REFERENCES; RFC 5957 DISPLAYFROM/DISPLAYTO).</summary>
public sealed partial class ImapSession
{
    private sealed record SortInfo(int Seq, MessageRecord Message, DateTimeOffset Date, string Subject, string From, string To, string Cc, string DisplayFrom, string DisplayTo, string? MessageId, IReadOnlyList<string> References);

    private async Task SortAsync(ImapCommand c, bool uid, CancellationToken ct)
    {
        if (c.Args.Count < 3 || c.Args[0].Kind != ImapArgKind.List || c.Args[0].Items.Count == 0)
        {
            throw new CommandSyntaxException("SORT (keys) charset criteria");
        }

        var keys = c.Args[0].Items.Select(k => k.Text.ToUpperInvariant()).ToList();
        foreach (var k in keys)
        {
            if (k is not ("ARRIVAL" or "CC" or "DATE" or "FROM" or "REVERSE" or "SIZE" or "SUBJECT" or "TO" or "DISPLAYFROM" or "DISPLAYTO"))
            {
                throw new CommandSyntaxException("Unknown sort key " + k);
            }
        }

        if (keys[^1] == "REVERSE")
        {
            throw new CommandSyntaxException("REVERSE must precede a key");
        }

        var infos = await SortInfosAsync(c.Args[1], c.Args, ct);
        if (infos is null)
        {
            return;
        }

        infos.Sort((a, b) =>
        {
            var reverse = false;
            foreach (var key in keys)
            {
                if (key == "REVERSE")
                {
                    reverse = true;
                    continue;
                }

                var r = key switch
                {
                    "ARRIVAL" => a.Message.InternalDate.CompareTo(b.Message.InternalDate),
                    "DATE" => a.Date.CompareTo(b.Date),
                    "SIZE" => a.Message.Size.CompareTo(b.Message.Size),
                    "SUBJECT" => string.CompareOrdinal(a.Subject, b.Subject),
                    "FROM" => string.CompareOrdinal(a.From, b.From),
                    "TO" => string.CompareOrdinal(a.To, b.To),
                    "CC" => string.CompareOrdinal(a.Cc, b.Cc),
                    "DISPLAYFROM" => string.CompareOrdinal(a.DisplayFrom, b.DisplayFrom),
                    _ => string.CompareOrdinal(a.DisplayTo, b.DisplayTo),
                };
                if (reverse)
                {
                    r = -r;
                }

                reverse = false;
                if (r != 0)
                {
                    return r;
                }
            }

            return a.Seq.CompareTo(b.Seq);
        });

        _writer.Untagged("SORT" + string.Concat(infos.Select(i => " " + (uid ? i.Message.Uid : i.Seq).ToString(CultureInfo.InvariantCulture))));
        Ok(uid ? "UID SORT completed" : "SORT completed");
    }

    private async Task ThreadAsync(ImapCommand c, bool uid, CancellationToken ct)
    {
        if (c.Args.Count < 3)
        {
            throw new CommandSyntaxException("THREAD algorithm charset criteria");
        }

        var algorithm = c.Args[0].Text.ToUpperInvariant();
        if (algorithm is not ("ORDEREDSUBJECT" or "REFERENCES"))
        {
            throw new CommandSyntaxException("Unknown threading algorithm");
        }

        var infos = await SortInfosAsync(c.Args[1], c.Args, ct);
        if (infos is null)
        {
            return;
        }

        string Id(SortInfo i) => (uid ? i.Message.Uid : i.Seq).ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder("THREAD ");
        if (algorithm == "ORDEREDSUBJECT")
        {
            // RFC 5256 section 3: group by base subject, sort each by date; the first is the parent of the rest.
            var threads = infos.GroupBy(i => i.Subject)
                .Select(g => g.OrderBy(i => i.Date).ThenBy(i => i.Seq).ToList())
                .OrderBy(t => t[0].Date).ThenBy(t => t[0].Seq);
            foreach (var t in threads)
            {
                sb.Append('(').Append(Id(t[0]));
                if (t.Count == 2)
                {
                    sb.Append(' ').Append(Id(t[1]));
                }
                else if (t.Count > 2)
                {
                    sb.Append(' ');
                    foreach (var child in t.Skip(1))
                    {
                        sb.Append('(').Append(Id(child)).Append(')');
                    }
                }

                sb.Append(')');
            }
        }
        else
        {
            foreach (var root in BuildReferenceThreads(infos))
            {
                sb.Append('(');
                AppendThread(sb, root, Id);
                sb.Append(')');
            }
        }

        _writer.Untagged(sb.ToString().TrimEnd());
        Ok(uid ? "UID THREAD completed" : "THREAD completed");
    }

    private sealed class ThreadNode
    {
        public SortInfo? Message { get; set; }

        public ThreadNode? Parent { get; set; }

        public List<ThreadNode> Children { get; } = [];

        public DateTimeOffset Date => Message?.Date ?? (Children.Count > 0 ? Children.Min(c => c.Date) : DateTimeOffset.MinValue);
    }

    /// <summary>RFC 5256 section 3 REFERENCES (the JWZ algorithm) without subject merging of unrelated roots.</summary>
    private static List<ThreadNode> BuildReferenceThreads(List<SortInfo> infos)
    {
        var byId = new Dictionary<string, ThreadNode>(StringComparer.Ordinal);
        ThreadNode Node(string id)
        {
            if (!byId.TryGetValue(id, out var n))
            {
                n = new ThreadNode();
                byId[id] = n;
            }

            return n;
        }

        static bool IsAncestor(ThreadNode candidate, ThreadNode node)
        {
            for (var p = node; p is not null; p = p.Parent)
            {
                if (ReferenceEquals(p, candidate))
                {
                    return true;
                }
            }

            return false;
        }

        void Link(ThreadNode parent, ThreadNode child)
        {
            if (child.Parent is not null || IsAncestor(child, parent))
            {
                return;
            }

            child.Parent = parent;
            parent.Children.Add(child);
        }

        foreach (var info in infos)
        {
            var id = info.MessageId is { Length: > 0 } mid && !(byId.TryGetValue(mid, out var existing) && existing.Message is not null) ? mid : "\0" + info.Seq.ToString(CultureInfo.InvariantCulture);
            var node = Node(id);
            node.Message = info;
            ThreadNode? previous = null;
            foreach (var reference in info.References)
            {
                var r = Node(reference);
                if (previous is not null)
                {
                    Link(previous, r);
                }

                previous = r;
            }

            if (previous is not null && !ReferenceEquals(previous, node))
            {
                if (node.Parent is not null)
                {
                    node.Parent.Children.Remove(node);
                    node.Parent = null;
                }

                Link(previous, node);
            }
        }

        var roots = byId.Values.Where(n => n.Parent is null).ToList();
        var pruned = new List<ThreadNode>();
        foreach (var root in roots)
        {
            pruned.AddRange(Prune(root, isRoot: true));
        }

        return [.. pruned.OrderBy(n => n.Date).ThenBy(n => n.Message?.Seq ?? 0)];
    }

    /// <summary>Drops empty containers, promoting their children (RFC 5256 section 3, step 4).</summary>
    private static List<ThreadNode> Prune(ThreadNode node, bool isRoot)
    {
        var children = node.Children.SelectMany(c => Prune(c, isRoot: false)).ToList();
        node.Children.Clear();
        node.Children.AddRange(children.OrderBy(c => c.Date).ThenBy(c => c.Message?.Seq ?? 0));
        foreach (var c in node.Children)
        {
            c.Parent = node;
        }

        if (node.Message is null && (!isRoot || node.Children.Count <= 1))
        {
            return [.. node.Children];
        }

        return node.Message is null && node.Children.Count == 0 ? [] : [node];
    }

    private static void AppendThread(StringBuilder sb, ThreadNode node, Func<SortInfo, string> id)
    {
        if (node.Message is not null)
        {
            sb.Append(id(node.Message));
        }

        if (node.Children.Count == 1)
        {
            if (node.Message is not null)
            {
                sb.Append(' ');
            }

            AppendThread(sb, node.Children[0], id);
        }
        else if (node.Children.Count > 1)
        {
            if (node.Message is not null)
            {
                sb.Append(' ');
            }

            foreach (var child in node.Children)
            {
                sb.Append('(');
                AppendThread(sb, child, id);
                sb.Append(')');
            }
        }
    }

    private async Task<List<SortInfo>?> SortInfosAsync(ImapArg charset, IReadOnlyList<ImapArg> args, CancellationToken ct)
    {
        var c = charset.Text;
        if (!c.Equals("UTF-8", StringComparison.OrdinalIgnoreCase) && !c.Equals("US-ASCII", StringComparison.OrdinalIgnoreCase))
        {
            No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
            return null;
        }

        var root = ParseCriteria(args, 2);
        var matches = await RunSearchAsync(root, ct);
        var context = new SearchContext(this);
        var infos = new List<SortInfo>(matches.Count);
        foreach (var (seq, m) in matches)
        {
            var h = await context.HeadersAsync(m, ct) ?? SearchHeaders.Empty;
            var date = h[HeaderId.Date] is { } d && MimeKit.Utils.DateUtils.TryParse(d, out var parsed) ? parsed : m.InternalDate;
            var from = FirstMailbox(h, HeaderId.From);
            var to = FirstMailbox(h, HeaderId.To);
            var cc = FirstMailbox(h, HeaderId.Cc);
            var references = new List<string>();
            foreach (var field in new[] { HeaderId.References, HeaderId.InReplyTo })
            {
                if (references.Count == 0 && h[field] is { } refs)
                {
                    references.AddRange(MimeKit.Utils.MimeUtils.EnumerateReferences(refs));
                }
            }

            var messageId = h[HeaderId.MessageId] is { } mid ? MimeKit.Utils.MimeUtils.ParseMessageId(mid) : null;
            infos.Add(new SortInfo(seq, m, date, BaseSubject(h[HeaderId.Subject] ?? string.Empty),
                from?.LocalPart.ToUpperInvariant() ?? string.Empty, to?.LocalPart.ToUpperInvariant() ?? string.Empty, cc?.LocalPart.ToUpperInvariant() ?? string.Empty,
                (string.IsNullOrEmpty(from?.Name) ? from?.Address : from.Name)?.ToUpperInvariant() ?? string.Empty,
                (string.IsNullOrEmpty(to?.Name) ? to?.Address : to.Name)?.ToUpperInvariant() ?? string.Empty,
                messageId, references));
        }

        return infos;
    }

    private static MailboxAddress? FirstMailbox(SearchHeaders headers, HeaderId id) =>
        headers[id] is { } value && InternetAddressList.TryParse(value, out var list) ? list.Mailboxes.FirstOrDefault() : null;

    /// <summary>RFC 5256 section 2.1 base subject: strip "Re:", "Fwd:", "[blob]" prefixes and "(fwd)" trailers.</summary>
    internal static string BaseSubject(string subject)
    {
        var s = subject.Replace('\t', ' ').Trim();
        string previous;
        do
        {
            previous = s;
            s = TrailerRegex().Replace(s, string.Empty).Trim();
            s = PrefixRegex().Replace(s, string.Empty).Trim();
            if (s.StartsWith("[FWD:", StringComparison.OrdinalIgnoreCase) && s.EndsWith(']'))
            {
                s = s[5..^1].Trim();
            }
        }
        while (s != previous);
        return s.ToUpperInvariant();
    }

    [GeneratedRegex(@"\s*\(fwd\)\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 100)]
    private static partial Regex TrailerRegex();

    [GeneratedRegex(@"^((\[[^\[\]]*\]\s*)*(re|fwd?)\s*(\[[^\[\]]*\])?\s*:\s*|\[[^\[\]]*\]\s*(?=.))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 100)]
    private static partial Regex PrefixRegex();
}
