using System.Globalization;
using System.Text;
using MimeKit;
using Rempart.Imap.Messages;
using Rempart.Imap.Protocol;
using Rempart.Store;

namespace Rempart.Imap;

/// <summary>
/// SEARCH and UID SEARCH (RFC 9051 section 6.4.4 with every search key, RFC 4731 ESEARCH RETURN options,
/// RFC 7162 MODSEQ). BODY and TEXT go to the store's full-text index; header keys read the stored header.
/// </summary>
public sealed partial class ImapSession
{
    private enum SearchOp
    {
        All,
        And,
        Or,
        Not,
        Flag,
        NoFlag,
        Keyword,
        Unkeyword,
        New,
        Old,
        Recent,
        Larger,
        Smaller,
        Before,
        On,
        Since,
        SentBefore,
        SentOn,
        SentSince,
        Header,
        Text,
        Sequence,
        Uid,
        ModSeq,
    }

    private sealed class SearchNode
    {
        public SearchOp Op { get; init; }

        public List<SearchNode> Children { get; } = [];

        public string Value { get; init; } = string.Empty;

        public string Field { get; init; } = string.Empty;

        public long Number { get; init; }

        public DateOnly Date { get; init; }

        public SequenceSet? Set { get; init; }

        public HashSet<long>? TextMatches { get; set; }

        public TextSearchScope Scope { get; init; }
    }

    private sealed class SearchContext(ImapSession session)
    {
        private readonly Dictionary<long, SearchHeaders?> _headers = [];

        public async ValueTask<SearchHeaders?> HeadersAsync(MessageRecord m, CancellationToken ct)
        {
            // The shared cache first: it answers almost every lookup; this search's own table only keeps what the
            // shared cache does not (unreadable bodies, header blocks too big for it).
            if (SearchHeaderCache.Shared.TryGet(m.BlobHash, out var shared))
            {
                return shared;
            }

            if (_headers.TryGetValue(m.Id, out var cached))
            {
                return cached;
            }

            SearchHeaders? headers = null;
            try
            {
                await using var stream = session._store.Blobs.Open(m.BlobHash);
                headers = SearchHeaders.From(await HeaderList.LoadAsync(stream, ct));
                SearchHeaderCache.Shared.Add(m.BlobHash, headers);
            }
            catch (Exception ex) when (ex is StoreException or FormatException or IOException)
            {
                headers = null;
            }

            _headers[m.Id] = headers;
            return headers;
        }
    }

    private async Task SearchAsync(ImapCommand c, bool uid, CancellationToken ct)
    {
        var args = c.Args;
        var i = 0;
        string[]? returnOptions = null;
        if (args.Count > 1 && args[0].Is("RETURN") && args[1].Kind == ImapArgKind.List)
        {
            returnOptions = [.. args[1].Items.Select(x => x.Text.ToUpperInvariant())];
            foreach (var option in returnOptions)
            {
                if (option is not ("MIN" or "MAX" or "ALL" or "COUNT" or "SAVE"))
                {
                    throw new CommandSyntaxException("Unknown RETURN option " + option);
                }
            }

            i = 2;
        }

        if (!TryCharset(args, ref i))
        {
            return;
        }

        var root = ParseCriteria(args, i);
        var matches = await RunSearchAsync(root, ct);
        var numbers = matches.Select(m => uid ? m.Message.Uid : m.Seq).ToList();
        var hasModSeq = ContainsModSeq(root);
        var highest = matches.Count > 0 ? matches.Max(m => m.Message.ModSeq) : 0;

        if (returnOptions is not null || _rev2)
        {
            // RFC 4731 / RFC 9051: ESEARCH form; RETURN () means ALL.
            var options = returnOptions is null || returnOptions.Length == 0 ? ["ALL"] : returnOptions;
            var sb = new StringBuilder("ESEARCH (TAG ").Append(ImapText.Quote(c.Tag)).Append(')');
            if (uid)
            {
                sb.Append(" UID");
            }

            if (numbers.Count > 0)
            {
                if (options.Contains("MIN"))
                {
                    sb.Append(" MIN ").Append(numbers.Min().ToString(CultureInfo.InvariantCulture));
                }

                if (options.Contains("MAX"))
                {
                    sb.Append(" MAX ").Append(numbers.Max().ToString(CultureInfo.InvariantCulture));
                }

                if (options.Contains("ALL"))
                {
                    sb.Append(" ALL ").Append(SequenceSet.Format(numbers));
                }
            }

            if (options.Contains("COUNT"))
            {
                sb.Append(" COUNT ").Append(numbers.Count.ToString(CultureInfo.InvariantCulture));
            }

            if (hasModSeq && numbers.Count > 0)
            {
                sb.Append(" MODSEQ ").Append(highest.ToString(CultureInfo.InvariantCulture));
            }

            _writer.Untagged(sb.ToString());
        }
        else
        {
            var text = "SEARCH" + string.Concat(numbers.Select(n => " " + n.ToString(CultureInfo.InvariantCulture)));
            if (hasModSeq && numbers.Count > 0)
            {
                text += " (MODSEQ " + highest.ToString(CultureInfo.InvariantCulture) + ")";
            }

            _writer.Untagged(text);
        }

        Ok(uid ? "UID SEARCH completed" : "SEARCH completed");
    }

    /// <summary>Accepts CHARSET UTF-8 / US-ASCII; anything else gets NO [BADCHARSET].</summary>
    private bool TryCharset(IReadOnlyList<ImapArg> args, ref int i)
    {
        if (i < args.Count && args[i].Is("CHARSET"))
        {
            if (i + 1 >= args.Count)
            {
                throw new CommandSyntaxException("CHARSET needs a name");
            }

            var charset = args[i + 1].Text;
            if (!charset.Equals("UTF-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("US-ASCII", StringComparison.OrdinalIgnoreCase))
            {
                No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
                return false;
            }

            i += 2;
        }

        return true;
    }

    private static bool ContainsModSeq(SearchNode node) => node.Op == SearchOp.ModSeq || node.Children.Any(ContainsModSeq);

    private async Task<List<(int Seq, MessageRecord Message)>> RunSearchAsync(SearchNode root, CancellationToken ct)
    {
        await PrepareTextAsync(root, ct);
        var context = new SearchContext(this);
        var result = new List<(int, MessageRecord)>();
        for (var i = 0; i < _view.Count; i++)
        {
            if (await MatchesAsync(root, i + 1, _view[i], context, ct))
            {
                result.Add((i + 1, _view[i]));
            }
        }

        return result;
    }

    private async Task PrepareTextAsync(SearchNode node, CancellationToken ct)
    {
        if (node.Op == SearchOp.Text)
        {
            node.TextMatches = [.. await _store.Messages.SearchTextAsync(Selected.Id, node.Value, node.Scope, ct)];
        }

        foreach (var child in node.Children)
        {
            await PrepareTextAsync(child, ct);
        }
    }

    private SearchNode ParseCriteria(IReadOnlyList<ImapArg> args, int start)
    {
        if (start >= args.Count)
        {
            throw new CommandSyntaxException("Missing search criteria");
        }

        var and = new SearchNode { Op = SearchOp.And };
        var i = start;
        while (i < args.Count)
        {
            and.Children.Add(ParseKey(args, ref i, 0));
        }

        return and;
    }

    private SearchNode ParseKey(IReadOnlyList<ImapArg> args, ref int i, int depth)
    {
        if (depth > _options.Imap.MaxNestingDepth)
        {
            throw new CommandSyntaxException("Search criteria too deeply nested");
        }

        if (i >= args.Count)
        {
            throw new CommandSyntaxException("Missing search key");
        }

        var arg = args[i++];
        if (arg.Kind == ImapArgKind.List)
        {
            if (arg.Items.Count == 0)
            {
                throw new CommandSyntaxException("Empty search list");
            }

            var group = new SearchNode { Op = SearchOp.And };
            var j = 0;
            while (j < arg.Items.Count)
            {
                group.Children.Add(ParseKey(arg.Items, ref j, depth + 1));
            }

            return group;
        }

        if (arg.Kind != ImapArgKind.Atom)
        {
            throw new CommandSyntaxException("Invalid search key");
        }

        var key = arg.Text.ToUpperInvariant();
        if (key.Length > 0 && (char.IsAsciiDigit(key[0]) || key[0] == '*'))
        {
            return new SearchNode { Op = SearchOp.Sequence, Set = ParseSet(arg) };
        }

        switch (key)
        {
            case "ALL": return new SearchNode { Op = SearchOp.All };
            case "ANSWERED": return new SearchNode { Op = SearchOp.Flag, Value = "\\Answered" };
            case "DELETED": return new SearchNode { Op = SearchOp.Flag, Value = "\\Deleted" };
            case "DRAFT": return new SearchNode { Op = SearchOp.Flag, Value = "\\Draft" };
            case "FLAGGED": return new SearchNode { Op = SearchOp.Flag, Value = "\\Flagged" };
            case "SEEN": return new SearchNode { Op = SearchOp.Flag, Value = "\\Seen" };
            case "UNANSWERED": return new SearchNode { Op = SearchOp.NoFlag, Value = "\\Answered" };
            case "UNDELETED": return new SearchNode { Op = SearchOp.NoFlag, Value = "\\Deleted" };
            case "UNDRAFT": return new SearchNode { Op = SearchOp.NoFlag, Value = "\\Draft" };
            case "UNFLAGGED": return new SearchNode { Op = SearchOp.NoFlag, Value = "\\Flagged" };
            case "UNSEEN": return new SearchNode { Op = SearchOp.NoFlag, Value = "\\Seen" };
            case "NEW": return new SearchNode { Op = SearchOp.New };
            case "OLD": return new SearchNode { Op = SearchOp.Old };
            case "RECENT": return new SearchNode { Op = SearchOp.Recent };
            case "KEYWORD": return new SearchNode { Op = SearchOp.Keyword, Value = Next(args, ref i) };
            case "UNKEYWORD": return new SearchNode { Op = SearchOp.Unkeyword, Value = Next(args, ref i) };
            case "LARGER": return new SearchNode { Op = SearchOp.Larger, Number = NextNumber(args, ref i) };
            case "SMALLER": return new SearchNode { Op = SearchOp.Smaller, Number = NextNumber(args, ref i) };
            case "BEFORE": return new SearchNode { Op = SearchOp.Before, Date = NextDate(args, ref i) };
            case "ON": return new SearchNode { Op = SearchOp.On, Date = NextDate(args, ref i) };
            case "SINCE": return new SearchNode { Op = SearchOp.Since, Date = NextDate(args, ref i) };
            case "SENTBEFORE": return new SearchNode { Op = SearchOp.SentBefore, Date = NextDate(args, ref i) };
            case "SENTON": return new SearchNode { Op = SearchOp.SentOn, Date = NextDate(args, ref i) };
            case "SENTSINCE": return new SearchNode { Op = SearchOp.SentSince, Date = NextDate(args, ref i) };
            case "FROM":
            case "TO":
            case "CC":
            case "BCC":
            case "SUBJECT":
                return new SearchNode { Op = SearchOp.Header, Field = key, Value = Next(args, ref i) };
            case "HEADER":
                var field = Next(args, ref i);
                return new SearchNode { Op = SearchOp.Header, Field = field, Value = Next(args, ref i) };
            case "BODY": return new SearchNode { Op = SearchOp.Text, Scope = TextSearchScope.Body, Value = Next(args, ref i) };
            case "TEXT": return new SearchNode { Op = SearchOp.Text, Scope = TextSearchScope.Text, Value = Next(args, ref i) };
            case "UID":
                if (i >= args.Count)
                {
                    throw new CommandSyntaxException("UID needs a set");
                }

                return new SearchNode { Op = SearchOp.Uid, Set = ParseSet(args[i++]) };
            case "NOT":
                var not = new SearchNode { Op = SearchOp.Not };
                not.Children.Add(ParseKey(args, ref i, depth + 1));
                return not;
            case "OR":
                var or = new SearchNode { Op = SearchOp.Or };
                or.Children.Add(ParseKey(args, ref i, depth + 1));
                or.Children.Add(ParseKey(args, ref i, depth + 1));
                return or;
            case "MODSEQ":
                // RFC 7162 section 3.1.5: optional entry name and type are accepted and ignored.
                if (i + 2 < args.Count && args[i].IsString && !char.IsAsciiDigit(args[i].Text.FirstOrDefault()))
                {
                    i += 2;
                }

                _condstore = true;
                return new SearchNode { Op = SearchOp.ModSeq, Number = NextNumber(args, ref i) };
            default:
                throw new CommandSyntaxException("Unknown search key " + key);
        }
    }

    private static string Next(IReadOnlyList<ImapArg> args, ref int i)
    {
        if (i >= args.Count || !args[i].IsString)
        {
            throw new CommandSyntaxException("Search key needs a string");
        }

        return args[i++].Text;
    }

    private static long NextNumber(IReadOnlyList<ImapArg> args, ref int i)
    {
        if (!long.TryParse(Next(args, ref i), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            throw new CommandSyntaxException("Search key needs a number");
        }

        return n;
    }

    private static DateOnly NextDate(IReadOnlyList<ImapArg> args, ref int i)
    {
        if (!ImapText.TryParseDate(Next(args, ref i), out var date))
        {
            throw new CommandSyntaxException("Invalid date");
        }

        return date;
    }

    private async ValueTask<bool> MatchesAsync(SearchNode node, int seq, MessageRecord m, SearchContext context, CancellationToken ct)
    {
        switch (node.Op)
        {
            case SearchOp.All:
                return true;
            case SearchOp.And:
                foreach (var child in node.Children)
                {
                    if (!await MatchesAsync(child, seq, m, context, ct))
                    {
                        return false;
                    }
                }

                return true;
            case SearchOp.Or:
                return await MatchesAsync(node.Children[0], seq, m, context, ct) || await MatchesAsync(node.Children[1], seq, m, context, ct);
            case SearchOp.Not:
                return !await MatchesAsync(node.Children[0], seq, m, context, ct);
            case SearchOp.Flag:
            case SearchOp.Keyword:
                return HasFlag(m.Flags, node.Value);
            case SearchOp.NoFlag:
            case SearchOp.Unkeyword:
                return !HasFlag(m.Flags, node.Value);
            case SearchOp.New:
            case SearchOp.Recent:
                // \Recent is not kept (RFC 9051 removed it): nothing is recent, so NEW and RECENT match nothing.
                return false;
            case SearchOp.Old:
                return true;
            case SearchOp.Larger:
                return m.Size > node.Number;
            case SearchOp.Smaller:
                return m.Size < node.Number;
            case SearchOp.Before:
                return DateOnly.FromDateTime(m.InternalDate.DateTime) < node.Date;
            case SearchOp.On:
                return DateOnly.FromDateTime(m.InternalDate.DateTime) == node.Date;
            case SearchOp.Since:
                return DateOnly.FromDateTime(m.InternalDate.DateTime) >= node.Date;
            case SearchOp.SentBefore:
            case SearchOp.SentOn:
            case SearchOp.SentSince:
                var headers = await context.HeadersAsync(m, ct);
                var dateText = headers?[HeaderId.Date];
                if (dateText is null || !MimeKit.Utils.DateUtils.TryParse(dateText, out var sent))
                {
                    return false;
                }

                var day = DateOnly.FromDateTime(sent.DateTime);
                return node.Op switch
                {
                    SearchOp.SentBefore => day < node.Date,
                    SearchOp.SentOn => day == node.Date,
                    _ => day >= node.Date,
                };
            case SearchOp.Header:
                return await HeaderMatchesAsync(node, m, context, ct);
            case SearchOp.Text:
                return node.TextMatches?.Contains(m.Uid) == true;
            case SearchOp.Sequence:
                return node.Set!.Contains(seq, _view.Count);
            case SearchOp.Uid:
                return node.Set!.Contains(m.Uid, MaxUid);
            case SearchOp.ModSeq:
                return m.ModSeq >= node.Number;
            default:
                return false;
        }
    }

    private static async ValueTask<bool> HeaderMatchesAsync(SearchNode node, MessageRecord m, SearchContext context, CancellationToken ct)
    {
        var headers = await context.HeadersAsync(m, ct);
        if (headers is null)
        {
            return false;
        }

        foreach (var header in headers.Fields)
        {
            if (!header.Name.Equals(node.Field, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // RFC 9051 section 6.4.4: HEADER with an empty string matches any message that has the field.
            if (node.Value.Length == 0)
            {
                return true;
            }

            if (header.Value.Contains(node.Value, StringComparison.OrdinalIgnoreCase) || header.Raw.Contains(node.Value, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
