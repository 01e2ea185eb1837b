using System.Buffers;
using System.Text;

namespace Rempart.Imap.Protocol;

public enum ImapParseStatus
{
    /// <summary>A whole command was read; <see cref="ImapParseResult.Command"/> is set.</summary>
    Complete,

    /// <summary>The buffer ends before the command does; read more (at least <see cref="ImapParseResult.RequiredLength"/> octets in all when known).</summary>
    NeedMoreData,

    /// <summary>A synchronising literal was announced and is within limits: send "+ Ready" and read more.</summary>
    NeedContinuation,

    /// <summary>Syntax error in a complete line: reply BAD, skip to <see cref="ImapParseResult.Consumed"/>, keep the session.</summary>
    CommandError,

    /// <summary>A synchronising literal over the size cap: reply NO [TOOBIG] without "+", skip the line, keep the session.</summary>
    LiteralTooLarge,

    /// <summary>Line too long, non-synchronising literal too large, garbage: reply BYE and close.</summary>
    ProtocolError,
}

public readonly record struct ImapParseResult(
    ImapParseStatus Status,
    ImapCommand? Command,
    SequencePosition Consumed,
    string? Tag,
    string? Error,
    long RequiredLength);

/// <summary>Limits the parser enforces before it buffers anything (house style, habit 4).</summary>
/// <param name="MaxNonSyncLiteral">Largest non-synchronising literal (RFC 7888 LITERAL- allows 4096); null with LITERAL+.</param>
public sealed record ImapParserLimits(int MaxLineLength, long MaxLiteralSize, int MaxNestingDepth, long? MaxNonSyncLiteral);

/// <summary>
/// RFC 9051 section 9 command syntax over a <see cref="ReadOnlySequence{T}"/>: takes bytes, returns a command or
/// "need more". Stateless: a session re-parses from the start of a command when more data arrives, telling the
/// parser how many synchronising literals it has already acknowledged with "+".
/// </summary>
public sealed class ImapCommandParser(ImapParserLimits limits)
{
    public ImapParserLimits Limits { get; } = limits;

    public ImapParseResult Parse(ReadOnlySequence<byte> buffer, int acknowledgedLiterals)
    {
        var state = new State { Acknowledged = acknowledgedLiterals };
        var reader = new SequenceReader<byte>(buffer);
        try
        {
            return ParseCommand(ref reader, ref state, buffer);
        }
        catch (NeedMore more)
        {
            return new ImapParseResult(more.Continuation ? ImapParseStatus.NeedContinuation : ImapParseStatus.NeedMoreData, null, buffer.Start, state.Tag, null, more.Required);
        }
        catch (ParseFailure failure)
        {
            return new ImapParseResult(failure.Status, null, failure.Consumed ?? buffer.Start, state.Tag, failure.Message, 0);
        }
    }

    /// <summary>
    /// Reads one CRLF-terminated line (AUTHENTICATE responses, IDLE's DONE) without its line ending.
    /// Returns false when more data is needed; throws nothing: a too-long line sets <paramref name="tooLong"/>.
    /// </summary>
    public bool TryReadLine(ReadOnlySequence<byte> buffer, out string line, out SequencePosition consumed, out bool tooLong)
    {
        line = string.Empty;
        consumed = buffer.Start;
        tooLong = false;
        var lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            tooLong = buffer.Length > Limits.MaxLineLength;
            return false;
        }

        var content = buffer.Slice(0, lf.Value);
        if (content.Length + 1 > Limits.MaxLineLength)
        {
            tooLong = true;
            return false;
        }

        if (content.Length > 0 && content.Slice(content.Length - 1).FirstSpan[0] == (byte)'\r')
        {
            content = content.Slice(0, content.Length - 1);
        }

        line = Encoding.UTF8.GetString(content);
        consumed = buffer.GetPosition(1, lf.Value);
        return true;
    }

    private struct State
    {
        public int Acknowledged;
        public int LiteralIndex;
        public string? Tag;
        public long SegmentEnd;
    }

    private ImapParseResult ParseCommand(ref SequenceReader<byte> r, ref State s, ReadOnlySequence<byte> buffer)
    {
        BeginSegment(ref r, ref s);
        var tag = ReadTag(ref r, ref s);
        s.Tag = tag;
        Expect(ref r, ref s, (byte)' ', "Missing command");
        var name = ReadAtomText(ref r, ref s).ToUpperInvariant();
        if (name.Length == 0)
        {
            Fail(ref r, ref s, "Missing command");
        }

        if (name == "UID")
        {
            Expect(ref r, ref s, (byte)' ', "Missing UID command");
            name = "UID " + ReadAtomText(ref r, ref s).ToUpperInvariant();
        }

        var args = new List<ImapArg>();
        while (true)
        {
            if (AtLineEnd(ref r))
            {
                ConsumeLineEnd(ref r);
                break;
            }

            Expect(ref r, ref s, (byte)' ', "Expected space");
            if (AtLineEnd(ref r))
            {
                // Trailing space: tolerated, as several clients send it.
                ConsumeLineEnd(ref r);
                break;
            }

            args.Add(ReadValue(ref r, ref s, 0));
        }

        return new ImapParseResult(ImapParseStatus.Complete, new ImapCommand(tag, name, args), r.Position, tag, null, 0);
    }

    /// <summary>A line segment runs to the next LF; it must be complete and short enough before we parse it.</summary>
    private void BeginSegment(ref SequenceReader<byte> r, ref State s)
    {
        var rest = r.UnreadSequence;
        var lf = rest.PositionOf((byte)'\n');
        if (lf is null)
        {
            if (rest.Length > Limits.MaxLineLength)
            {
                throw new ParseFailure(ImapParseStatus.ProtocolError, "Line too long", null);
            }

            throw new NeedMore(false, 0);
        }

        var length = rest.Slice(0, lf.Value).Length + 1;
        if (length > Limits.MaxLineLength)
        {
            throw new ParseFailure(ImapParseStatus.ProtocolError, "Line too long", null);
        }

        s.SegmentEnd = r.Consumed + length;
    }

    private static bool AtLineEnd(ref SequenceReader<byte> r) => r.TryPeek(out var b) && (b == (byte)'\r' || b == (byte)'\n');

    private static void ConsumeLineEnd(ref SequenceReader<byte> r)
    {
        if (r.IsNext((byte)'\r', advancePast: true))
        {
            r.IsNext((byte)'\n', advancePast: true);
            return;
        }

        r.IsNext((byte)'\n', advancePast: true);
    }

    private static void Expect(ref SequenceReader<byte> r, ref State s, byte b, string error)
    {
        if (!r.IsNext(b, advancePast: true))
        {
            Fail(ref r, ref s, error);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(ref SequenceReader<byte> r, ref State s, string error)
    {
        // Skip the rest of the current line so the session can carry on with the next command.
        var skip = s.SegmentEnd - r.Consumed;
        if (skip > 0)
        {
            r.Advance(skip);
        }

        throw new ParseFailure(ImapParseStatus.CommandError, error, r.Position);
    }

    private static string ReadTag(ref SequenceReader<byte> r, ref State s)
    {
        var start = r.Position;
        long n = 0;
        while (r.TryPeek(out var b) && IsTagChar(b))
        {
            r.Advance(1);
            n++;
        }

        if (n == 0)
        {
            Fail(ref r, ref s, "Missing or invalid tag");
        }

        return Encoding.ASCII.GetString(r.Sequence.Slice(start, r.Position));
    }

    private static string ReadAtomText(ref SequenceReader<byte> r, ref State s)
    {
        var start = r.Position;
        while (r.TryPeek(out var b) && IsAtomChar(b))
        {
            r.Advance(1);
        }

        return Encoding.ASCII.GetString(r.Sequence.Slice(start, r.Position));
    }

    private ImapArg ReadValue(ref SequenceReader<byte> r, ref State s, int depth)
    {
        if (!r.TryPeek(out var b))
        {
            Fail(ref r, ref s, "Unexpected end of line");
        }

        switch (b)
        {
            case (byte)'(':
                return ReadList(ref r, ref s, depth + 1);
            case (byte)'"':
                return ReadQuoted(ref r, ref s);
            case (byte)'{':
                return ReadLiteral(ref r, ref s);
            case (byte)'~':
                if (r.UnreadSequence.Length > 1 && r.UnreadSequence.Slice(1, 1).FirstSpan[0] == (byte)'{')
                {
                    // RFC 3516 literal8.
                    r.Advance(1);
                    return ReadLiteral(ref r, ref s);
                }

                break;
        }

        return ReadAtom(ref r, ref s);
    }

    private ImapArg ReadList(ref SequenceReader<byte> r, ref State s, int depth)
    {
        if (depth > Limits.MaxNestingDepth)
        {
            Fail(ref r, ref s, "Too deeply nested");
        }

        r.Advance(1);
        var items = new List<ImapArg>();
        while (true)
        {
            if (!r.TryPeek(out var b) || b is (byte)'\r' or (byte)'\n')
            {
                Fail(ref r, ref s, "Unterminated list");
            }

            if (b == (byte)')')
            {
                r.Advance(1);
                return ImapArg.List(items);
            }

            if (items.Count > 0)
            {
                Expect(ref r, ref s, (byte)' ', "Expected space in list");
                if (r.IsNext((byte)')', advancePast: true))
                {
                    return ImapArg.List(items);
                }
            }

            items.Add(ReadValue(ref r, ref s, depth));
        }
    }

    private static ImapArg ReadQuoted(ref SequenceReader<byte> r, ref State s)
    {
        r.Advance(1);
        var bytes = new ArrayBufferWriter<byte>(64);
        while (true)
        {
            if (!r.TryRead(out var b) || b is (byte)'\r' or (byte)'\n')
            {
                Fail(ref r, ref s, "Unterminated quoted string");
            }

            if (b == (byte)'"')
            {
                return ImapArg.Quoted(bytes.WrittenMemory);
            }

            if (b == (byte)'\\')
            {
                if (!r.TryRead(out b) || (b != (byte)'\\' && b != (byte)'"'))
                {
                    Fail(ref r, ref s, "Invalid escape in quoted string");
                }
            }
            else if (b == 0)
            {
                Fail(ref r, ref s, "NUL in quoted string");
            }

            bytes.GetSpan(1)[0] = b;
            bytes.Advance(1);
        }
    }

    private ImapArg ReadLiteral(ref SequenceReader<byte> r, ref State s)
    {
        r.Advance(1);
        long size = 0;
        var digits = 0;
        while (r.TryPeek(out var d) && d >= (byte)'0' && d <= (byte)'9')
        {
            r.Advance(1);
            if (++digits > 18)
            {
                Fail(ref r, ref s, "Literal size too large");
            }

            size = (size * 10) + (d - '0');
        }

        var nonSync = r.IsNext((byte)'+', advancePast: true) || r.IsNext((byte)'-', advancePast: true);
        if (digits == 0 || !r.IsNext((byte)'}', advancePast: true) || !AtLineEnd(ref r))
        {
            Fail(ref r, ref s, "Invalid literal");
        }

        ConsumeLineEnd(ref r);
        var index = s.LiteralIndex++;

        // RFC 7888: the cap is checked on the announced size, before any octet of the literal is read.
        if (size > Limits.MaxLiteralSize || (nonSync && Limits.MaxNonSyncLiteral is { } cap && size > cap))
        {
            if (nonSync)
            {
                throw new ParseFailure(ImapParseStatus.ProtocolError, "[TOOBIG] Literal too large", null);
            }

            throw new ParseFailure(ImapParseStatus.LiteralTooLarge, "[TOOBIG] Literal too large", r.Position);
        }

        if (r.Remaining < size)
        {
            var continuation = !nonSync && index >= s.Acknowledged;
            throw new NeedMore(continuation, r.Consumed + size);
        }

        var data = r.UnreadSequence.Slice(0, size).ToArray();
        r.Advance(size);

        // What follows the literal is a new line segment, with its own length limit.
        BeginSegment(ref r, ref s);
        return ImapArg.Literal(data);
    }

    private static ImapArg ReadAtom(ref SequenceReader<byte> r, ref State s)
    {
        var start = r.Position;
        var bracket = 0;
        long n = 0;
        while (r.TryPeek(out var b))
        {
            if (b is (byte)'\r' or (byte)'\n')
            {
                break;
            }

            if (bracket > 0)
            {
                // FETCH sections: BODY[HEADER.FIELDS (A B)] keeps its spaces and parentheses inside the brackets.
                if (b == (byte)']')
                {
                    bracket--;
                }
                else if (b == (byte)'[')
                {
                    bracket++;
                }
            }
            else if (b == (byte)'[')
            {
                bracket++;
            }
            else if (!IsAtomChar(b) && b != (byte)']')
            {
                break;
            }

            r.Advance(1);
            n++;
        }

        if (n == 0 || bracket != 0)
        {
            Fail(ref r, ref s, n == 0 ? "Unexpected character" : "Unterminated section");
        }

        return ImapArg.Atom(r.Sequence.Slice(start, r.Position).ToArray());
    }

    private static bool IsTagChar(byte b) => IsAtomChar(b) && b != (byte)'+' || b == (byte)']';

    /// <summary>RFC 9051 ATOM-CHAR plus list-wildcards and resp-specials, which LIST patterns and flags use.</summary>
    private static bool IsAtomChar(byte b) => b > 0x20 && b != 0x7f && b is not ((byte)'(' or (byte)')' or (byte)'{' or (byte)'"' or (byte)'[' or (byte)']') || b >= 0x80;

    private sealed class NeedMore(bool continuation, long required) : Exception
    {
        public bool Continuation { get; } = continuation;

        public long Required { get; } = required;
    }

    private sealed class ParseFailure(ImapParseStatus status, string message, SequencePosition? consumed) : Exception(message)
    {
        public ImapParseStatus Status { get; } = status;

        public SequencePosition? Consumed { get; } = consumed;
    }
}
