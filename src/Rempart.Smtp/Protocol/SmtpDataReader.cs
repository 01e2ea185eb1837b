using System.Buffers;

namespace Rempart.Smtp.Protocol;

/// <summary>
/// Message bytes collected for one transaction, capped at a limit (SmtpOptions.MaxMessageSize): once the cap is
/// passed nothing more is kept, but <see cref="TotalLength"/> keeps counting so the session can finish reading to
/// the real end of the message before refusing it.
/// </summary>
public sealed class MessageBuffer
{
    private readonly long _limit;
    private byte[] _data;
    private int _length;

    public MessageBuffer(long limit)
    {
        _limit = Math.Min(limit, Array.MaxLength);
        _data = new byte[(int)Math.Min(_limit, 16 * 1024)];
    }

    /// <summary>Bytes offered so far, kept or not.</summary>
    public long TotalLength { get; private set; }

    /// <summary>True once more than the limit was offered; the content is then dropped.</summary>
    public bool Overflowed { get; private set; }

    public ReadOnlyMemory<byte> Content => _data.AsMemory(0, _length);

    public void Append(ReadOnlySpan<byte> bytes)
    {
        TotalLength += bytes.Length;
        if (Overflowed)
        {
            return;
        }

        if (TotalLength > _limit)
        {
            Overflowed = true;
            _data = [];
            _length = 0;
            return;
        }

        if (_length + bytes.Length > _data.Length)
        {
            var size = (int)Math.Min(_limit, Math.Max((long)_data.Length * 2, _length + bytes.Length));
            Array.Resize(ref _data, size);
        }

        bytes.CopyTo(_data.AsSpan(_length));
        _length += bytes.Length;
    }
}

/// <summary>
/// The DATA phase parser (RFC 5321 section 4.1.1.4 and 4.5.2). Only CRLF "." CRLF ends the message; leading dots are
/// removed (transparency); a bare CR or bare LF anywhere marks the message as refused but reading continues to the
/// real end, so that no byte of the message is ever read as a command. This is the defence against SMTP smuggling
/// (&lt;LF&gt;.&lt;CR&gt;&lt;LF&gt;, &lt;LF&gt;.&lt;LF&gt;, &lt;CR&gt;.&lt;CR&gt; and similar end-of-data variants):
/// whatever other software makes of those bytes, here they are message content of a refused message.
/// </summary>
public sealed class SmtpDataReader
{
    private enum State
    {
        LineStart,
        Middle,
        Cr,
        Dot,
        DotCr,
    }

    private readonly MessageBuffer _sink;
    private State _state = State.LineStart;

    public SmtpDataReader(MessageBuffer sink) => _sink = sink;

    /// <summary>True when a bare CR or LF was seen: the message must be refused (550 5.6.11).</summary>
    public bool SawBareLineEnding { get; private set; }

    /// <summary>
    /// Consumes bytes from <paramref name="buffer"/>. Returns true when the end-of-data marker was consumed; the
    /// buffer is then left at the first byte after it (a pipelined command). Returns false when all bytes were used.
    /// </summary>
    public bool Read(ref ReadOnlySequence<byte> buffer)
    {
        var consumed = 0L;
        foreach (var segment in buffer)
        {
            var span = segment.Span;
            var i = 0;
            while (i < span.Length)
            {
                if (_state == State.Middle)
                {
                    // Fast path: copy the run of ordinary bytes up to the next CR or LF.
                    var run = span[i..].IndexOfAny((byte)'\r', (byte)'\n');
                    if (run < 0)
                    {
                        Emit(span[i..]);
                        i = span.Length;
                        break;
                    }

                    Emit(span.Slice(i, run));
                    i += run;
                }

                var b = span[i++];
                if (Step(b))
                {
                    consumed += i;
                    buffer = buffer.Slice(consumed);
                    return true;
                }
            }

            consumed += span.Length;
        }

        buffer = buffer.Slice(buffer.End);
        return false;
    }

    private bool Step(byte b)
    {
        switch (_state)
        {
            case State.LineStart:
                if (b == (byte)'.')
                {
                    _state = State.Dot;
                    return false;
                }

                return Middle(b);
            case State.Dot:
                if (b == (byte)'\r')
                {
                    _state = State.DotCr;
                    return false;
                }

                // Dot-stuffed line: the leading dot is dropped (RFC 5321 section 4.5.2).
                return Middle(b);
            case State.DotCr:
                if (b == (byte)'\n')
                {
                    return true;
                }

                // "." CR <x>: a bare CR. The dot stays dropped; the message is refused anyway.
                SawBareLineEnding = true;
                _state = State.Middle;
                return Middle(b);
            case State.Cr:
                if (b == (byte)'\n')
                {
                    Emit("\r\n"u8);
                    _state = State.LineStart;
                    return false;
                }

                SawBareLineEnding = true;
                Emit("\r"u8);
                _state = State.Middle;
                return Middle(b);
            default:
                return Middle(b);
        }
    }

    private bool Middle(byte b)
    {
        if (b == (byte)'\r')
        {
            _state = State.Cr;
        }
        else if (b == (byte)'\n')
        {
            // A bare LF never starts a new line: "<LF>.<CR><LF>" is content, not an end of data.
            SawBareLineEnding = true;
            Emit("\n"u8);
            _state = State.Middle;
        }
        else
        {
            Emit([b]);
            _state = State.Middle;
        }

        return false;
    }

    private void Emit(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != 0)
        {
            _sink.Append(bytes);
        }
    }
}
