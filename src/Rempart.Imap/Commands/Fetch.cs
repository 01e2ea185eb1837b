using System.Globalization;
using MimeKit;
using Rempart.Imap.Messages;
using Rempart.Imap.Protocol;
using Rempart.Store;
using Rempart.Store.Mime;

namespace Rempart.Imap;

/// <summary>FETCH and UID FETCH (RFC 9051 section 6.4.5; RFC 3516 BINARY; RFC 7162 CHANGEDSINCE, VANISHED).</summary>
public sealed partial class ImapSession
{
    private const int FlushThreshold = 64 * 1024;

    /// <summary>Messages whose metadata (ENVELOPE, BODYSTRUCTURE) is read from the store at once.</summary>
    private const int MetadataBatch = 200;

    private enum FetchKind
    {
        Flags,
        InternalDate,
        Size,
        Envelope,
        Body,
        BodyStructure,
        Uid,
        ModSeq,
        Section,
        Binary,
        BinarySize,
    }

    /// <param name="Label">The item name as it goes back on the wire, e.g. <c>BODY[HEADER]</c>.</param>
    private sealed record FetchItem(FetchKind Kind, string Label, SectionSpec? Section = null, long? Origin = null, long? Count = null, bool Peek = true);

    private async Task FetchAsync(ImapCommand c, bool uid, CancellationToken ct)
    {
        if (c.Args.Count is < 2 or > 3)
        {
            throw new CommandSyntaxException("FETCH sequence-set items [(modifiers)]");
        }

        var set = ParseSet(c.Args[0]);
        var items = ParseFetchItems(c.Args[1]);
        long? changedSince = null;
        var vanished = false;
        if (c.Args.Count == 3)
        {
            var mods = c.Args[2];
            if (mods.Kind != ImapArgKind.List)
            {
                throw new CommandSyntaxException("FETCH modifiers must be a list");
            }

            for (var i = 0; i < mods.Items.Count; i++)
            {
                if (mods.Items[i].Is("CHANGEDSINCE") && i + 1 < mods.Items.Count
                    && long.TryParse(mods.Items[i + 1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var since))
                {
                    changedSince = since;
                    i++;
                }
                else if (mods.Items[i].Is("VANISHED") && uid && _qresync)
                {
                    vanished = true;
                }
                else
                {
                    throw new CommandSyntaxException("Unknown FETCH modifier");
                }
            }

            if (vanished && changedSince is null)
            {
                throw new CommandSyntaxException("VANISHED needs CHANGEDSINCE");
            }
        }

        if (changedSince is not null)
        {
            // RFC 7162 section 3.1.4.1: CHANGEDSINCE implies MODSEQ and turns CONDSTORE on.
            _condstore = true;
            if (!items.Any(i => i.Kind == FetchKind.ModSeq))
            {
                items.Add(new FetchItem(FetchKind.ModSeq, "MODSEQ"));
            }
        }

        if (uid && !items.Any(i => i.Kind == FetchKind.Uid))
        {
            items.Insert(0, new FetchItem(FetchKind.Uid, "UID"));
        }

        if (_condstore && !items.Any(i => i.Kind == FetchKind.ModSeq) && items.Any(i => i.Kind == FetchKind.Flags))
        {
            items.Add(new FetchItem(FetchKind.ModSeq, "MODSEQ"));
        }

        var messages = Resolve(set, uid);
        if (changedSince is { } cs)
        {
            messages = [.. messages.Where(m => m.Message.ModSeq > cs)];
            if (vanished)
            {
                var gone = await _store.Messages.ListExpungedSinceAsync(Selected.Id, cs, ct);
                var inSet = gone.Where(u => set.Contains(u, Math.Max(MaxUid, Selected.UidNext - 1))).ToList();
                if (inSet.Count > 0)
                {
                    _writer.Untagged("VANISHED (EARLIER) " + SequenceSet.Format(inSet));
                }
            }
        }

        // Non-PEEK body fetches set \Seen first, so the FLAGS in the same response are already right.
        if (!_readOnly && items.Any(i => !i.Peek))
        {
            var unseen = messages.Where(m => !HasFlag(m.Message.Flags, "\\Seen")).Select(m => m.Message.Uid).ToList();
            if (unseen.Count > 0)
            {
                var result = await _store.Messages.StoreFlagsAsync(Selected.Id, unseen, FlagOperation.Add, ["\\Seen"], null, ct);
                foreach (var changed in result.Changed)
                {
                    UpdateView(changed);
                }

                if (!items.Any(i => i.Kind == FetchKind.Flags))
                {
                    items.Add(new FetchItem(FetchKind.Flags, "FLAGS"));
                }

                var seenNow = new HashSet<long>(unseen);
                messages = [.. messages.Select(m => seenNow.Contains(m.Message.Uid) && IndexOfUid(m.Message.Uid) is var idx and >= 0 ? (m.Seq, _view[idx]) : m)];
            }
        }

        var needsMetadata = items.Any(i => i.Kind is FetchKind.Envelope or FetchKind.Body or FetchKind.BodyStructure);
        var needsRaw = items.Any(i => i.Kind is FetchKind.Section or FetchKind.Binary or FetchKind.BinarySize);
        IReadOnlyDictionary<long, MessageMetadata>? batch = null;
        for (var n = 0; n < messages.Count; n++)
        {
            var (seq, message) = messages[n];
            if (needsMetadata && n % MetadataBatch == 0)
            {
                // One store read per batch of messages rather than one per message.
                var ids = new List<long>(Math.Min(MetadataBatch, messages.Count - n));
                for (var k = n; k < messages.Count && k < n + MetadataBatch; k++)
                {
                    ids.Add(messages[k].Message.Id);
                }

                batch = await _store.Messages.GetMetadataManyAsync(ids, ct);
            }

            var metadata = batch?.GetValueOrDefault(message.Id);
            byte[]? raw = null;
            try
            {
                if (needsRaw || (needsMetadata && metadata is null))
                {
                    raw = await _store.Blobs.ReadAllAsync(message.BlobHash, ct);
                }
            }
            catch (StoreException)
            {
                // Expunged by another session after our view was built: RFC 9051 section 7.5.1 lets us skip it.
                continue;
            }

            WriteFetchResponse(seq, message, items, metadata, needsMetadata, raw);
            if (_writer.Pending > FlushThreshold)
            {
                await _writer.FlushAsync(ct);
            }
        }

        Ok(uid ? "UID FETCH completed" : "FETCH completed");
    }

    /// <summary>
    /// One message's FETCH response into the writer. Its MIME parse, when an item needs one, is made at most once and
    /// disposed here: MimeKit's entities have finalizers, and an undisposed parse outlives a collection.
    /// </summary>
    private void WriteFetchResponse(int seq, MessageRecord message, List<FetchItem> items, MessageMetadata? metadata, bool needsMetadata, byte[]? raw)
    {
        MessageParts? parts = null;
        try
        {
            if (needsMetadata && metadata is null && raw is not null)
            {
                parts = MessageParts.Parse(raw);
                var (body, structure) = ImapStructure.Structure(parts.Message, raw);
                metadata = new MessageMetadata(message.Id, ImapStructure.Envelope(parts.Message), structure, body, null, null, null, null, null, null, null, null);
            }

            _writer.Raw("* "u8);
            _writer.Number(seq);
            _writer.Raw(" FETCH ("u8);
            var first = true;
            foreach (var item in items)
            {
                if (!first)
                {
                    _writer.Raw(" "u8);
                }

                first = false;
                WriteFetchItem(item, message, metadata, raw, ref parts);
            }

            _writer.Raw(")\r\n"u8);
        }
        finally
        {
            parts?.Dispose();
        }
    }

    private void WriteFetchItem(FetchItem item, MessageRecord message, MessageMetadata? metadata, byte[]? raw, ref MessageParts? parts)
    {
        switch (item.Kind)
        {
            case FetchKind.Flags:
                _writer.Raw("FLAGS ("u8);
                for (var i = 0; i < message.Flags.Count; i++)
                {
                    if (i > 0)
                    {
                        _writer.Raw(" "u8);
                    }

                    _writer.Ascii(message.Flags[i]);
                }

                _writer.Raw(")"u8);
                return;
            case FetchKind.InternalDate:
                _writer.Ascii("INTERNALDATE " + ImapText.DateTime(message.InternalDate));
                return;
            case FetchKind.Size:
                _writer.Raw("RFC822.SIZE "u8);
                _writer.Number(message.Size);
                return;
            case FetchKind.Uid:
                _writer.Raw("UID "u8);
                _writer.Number(message.Uid);
                return;
            case FetchKind.ModSeq:
                _writer.Raw("MODSEQ ("u8);
                _writer.Number(message.ModSeq);
                _writer.Raw(")"u8);
                return;
            case FetchKind.Envelope:
                _writer.Raw("ENVELOPE "u8);
                _writer.Ascii(metadata?.Envelope ?? "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
                return;
            case FetchKind.Body:
                _writer.Raw("BODY "u8);
                _writer.Ascii(metadata?.Body ?? "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
                return;
            case FetchKind.BodyStructure:
                _writer.Raw("BODYSTRUCTURE "u8);
                _writer.Ascii(metadata?.BodyStructure ?? "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
                return;
        }

        raw ??= [];
        ReadOnlyMemory<byte>? data;
        if (item.Section is { Parts.Length: 0, Kind: SectionKind.Full })
        {
            data = raw;
        }
        else
        {
            parts ??= MessageParts.Parse(raw);
            data = item.Kind == FetchKind.Section ? parts.Get(item.Section!) : Decode(parts, item.Section!);
        }

        if (item.Kind == FetchKind.BinarySize)
        {
            _writer.Ascii(item.Label + " ");
            _writer.Number(data?.Length ?? 0);
            return;
        }

        _writer.Ascii(item.Label);
        if (data is null)
        {
            _writer.Raw(" NIL"u8);
            return;
        }

        var bytes = data.Value;
        if (item.Origin is { } origin)
        {
            _writer.Raw("<"u8);
            _writer.Number(origin);
            _writer.Raw(">"u8);
            var start = (int)Math.Min(origin, bytes.Length);
            var count = (int)Math.Min(item.Count ?? long.MaxValue, bytes.Length - start);
            bytes = bytes.Slice(start, count);
        }

        _writer.Raw(" "u8);
        if (item.Kind == FetchKind.Binary && bytes.Span.Contains((byte)0))
        {
            // RFC 3516: binary content with NUL goes out as literal8.
            _writer.Raw("~"u8);
        }

        _writer.Literal(bytes.Span);
    }

    /// <summary>BINARY[part]: the part's content with its transfer encoding removed (RFC 3516).</summary>
    private static ReadOnlyMemory<byte>? Decode(MessageParts parts, SectionSpec section)
    {
        if (section.Parts.Length == 0)
        {
            return parts.Get(section);
        }

        var entity = parts.Navigate(section.Parts);
        if (entity is MimePart { Content: { } content })
        {
            using var output = new MemoryStream();
            content.DecodeTo(output);
            return output.ToArray();
        }

        return entity is null ? null : parts.Get(section);
    }

    private static List<FetchItem> ParseFetchItems(ImapArg arg)
    {
        var atoms = new List<ImapArg>();
        if (arg.Kind == ImapArgKind.List)
        {
            atoms.AddRange(arg.Items);
        }
        else if (arg.Kind == ImapArgKind.Atom)
        {
            switch (arg.Text.ToUpperInvariant())
            {
                // RFC 9051 section 6.4.5 macros.
                case "ALL":
                    return [new(FetchKind.Flags, "FLAGS"), new(FetchKind.InternalDate, "INTERNALDATE"), new(FetchKind.Size, "RFC822.SIZE"), new(FetchKind.Envelope, "ENVELOPE")];
                case "FAST":
                    return [new(FetchKind.Flags, "FLAGS"), new(FetchKind.InternalDate, "INTERNALDATE"), new(FetchKind.Size, "RFC822.SIZE")];
                case "FULL":
                    return [new(FetchKind.Flags, "FLAGS"), new(FetchKind.InternalDate, "INTERNALDATE"), new(FetchKind.Size, "RFC822.SIZE"), new(FetchKind.Envelope, "ENVELOPE"), new(FetchKind.Body, "BODY")];
            }

            atoms.Add(arg);
        }
        else
        {
            throw new CommandSyntaxException("Invalid FETCH items");
        }

        if (atoms.Count == 0)
        {
            throw new CommandSyntaxException("Empty FETCH item list");
        }

        var items = new List<FetchItem>();
        foreach (var atom in atoms)
        {
            if (atom.Kind != ImapArgKind.Atom)
            {
                throw new CommandSyntaxException("Invalid FETCH item");
            }

            items.Add(ParseFetchItem(atom.Text));
        }

        return items;
    }

    private static FetchItem ParseFetchItem(string text)
    {
        var bracket = text.IndexOf('[', StringComparison.Ordinal);
        var name = (bracket < 0 ? text : text[..bracket]).ToUpperInvariant();
        if (bracket < 0)
        {
            return name switch
            {
                "FLAGS" => new(FetchKind.Flags, "FLAGS"),
                "INTERNALDATE" => new(FetchKind.InternalDate, "INTERNALDATE"),
                "RFC822.SIZE" => new(FetchKind.Size, "RFC822.SIZE"),
                "ENVELOPE" => new(FetchKind.Envelope, "ENVELOPE"),
                "BODY" => new(FetchKind.Body, "BODY"),
                "BODYSTRUCTURE" => new(FetchKind.BodyStructure, "BODYSTRUCTURE"),
                "UID" => new(FetchKind.Uid, "UID"),
                "MODSEQ" => new(FetchKind.ModSeq, "MODSEQ"),
                "RFC822" => new(FetchKind.Section, "RFC822", new SectionSpec([], SectionKind.Full, []), Peek: false),
                "RFC822.HEADER" => new(FetchKind.Section, "RFC822.HEADER", new SectionSpec([], SectionKind.Header, [])),
                "RFC822.TEXT" => new(FetchKind.Section, "RFC822.TEXT", new SectionSpec([], SectionKind.Text, []), Peek: false),
                _ => throw new CommandSyntaxException("Unknown FETCH item " + name),
            };
        }

        var close = text.LastIndexOf(']');
        if (close < bracket)
        {
            throw new CommandSyntaxException("Invalid section");
        }

        var spec = text[(bracket + 1)..close];
        var partial = text[(close + 1)..];
        long? origin = null, count = null;
        if (partial.Length > 0)
        {
            var dot = partial.IndexOf('.', StringComparison.Ordinal);
            if (partial[0] != '<' || partial[^1] != '>' || dot < 0
                || !long.TryParse(partial[1..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var o)
                || !long.TryParse(partial[(dot + 1)..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n == 0)
            {
                throw new CommandSyntaxException("Invalid partial specifier");
            }

            origin = o;
            count = n;
        }

        if (!MessageParts.TryParseSection(spec, out var section))
        {
            throw new CommandSyntaxException("Invalid section");
        }

        switch (name)
        {
            case "BODY":
            case "BODY.PEEK":
                return new(FetchKind.Section, "BODY[" + spec.ToUpperInvariant() + "]", section, origin, count, Peek: name == "BODY.PEEK");
            case "BINARY":
            case "BINARY.PEEK":
                if (section.Kind != SectionKind.Full)
                {
                    throw new CommandSyntaxException("BINARY takes part numbers only");
                }

                return new(FetchKind.Binary, "BINARY[" + spec + "]", section, origin, count, Peek: name == "BINARY.PEEK");
            case "BINARY.SIZE":
                if (section.Kind != SectionKind.Full || partial.Length > 0)
                {
                    throw new CommandSyntaxException("BINARY.SIZE takes part numbers only");
                }

                return new(FetchKind.BinarySize, "BINARY.SIZE[" + spec + "]", section);
            default:
                throw new CommandSyntaxException("Unknown FETCH item " + name);
        }
    }
}
