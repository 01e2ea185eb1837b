using System.Buffers;

namespace Rempart.Pop3.Protocol;

/// <summary>
/// Writes a message as a POP3 multi-line response body (RFC 1939 section 3): every line ends in CRLF (bare LF is
/// normalised), a line starting with '.' gets one more '.' (byte-stuffing), and <see cref="Complete"/> adds the
/// terminating ".CRLF". With a body line limit it implements TOP (RFC 1939 section 7): the headers, the blank line,
/// then at most that many body lines. Content is fed in chunks of any size, so a message is never held whole.
/// </summary>
public sealed class MultilineWriter
{
    private readonly IBufferWriter<byte> _output;
    private readonly long? _bodyLineLimit;
    private bool _atLineStart = true;
    private bool _pendingCr;
    private bool _lineHasContent;
    private bool _inBody;
    private long _bodyLines;
    private bool _done;

    /// <param name="bodyLineLimit">Null for the whole message (RETR); n for TOP n.</param>
    public MultilineWriter(IBufferWriter<byte> output, long? bodyLineLimit = null)
    {
        _output = output;
        _bodyLineLimit = bodyLineLimit;
    }

    /// <summary>True once the TOP line limit is reached: further content is ignored.</summary>
    public bool IsDone => _done;

    /// <summary>Writes one chunk. Returns false when no more content is wanted (TOP limit reached).</summary>
    public bool Write(ReadOnlySpan<byte> chunk)
    {
        if (_done)
        {
            return false;
        }

        // Worst case every byte doubles (".\n" -> "..\r\n"), plus a pending CR.
        var span = _output.GetSpan((chunk.Length * 2) + 2);
        var n = 0;
        for (var i = 0; i < chunk.Length; i++)
        {
            var b = chunk[i];
            if (b == (byte)'\n')
            {
                span[n++] = (byte)'\r';
                span[n++] = (byte)'\n';
                _pendingCr = false;
                _atLineStart = true;
                if (EndLine())
                {
                    _output.Advance(n);
                    return false;
                }

                continue;
            }

            if (_pendingCr)
            {
                // A CR not followed by LF is data, kept as it was.
                WriteData(span, ref n, (byte)'\r');
                _pendingCr = false;
            }

            if (b == (byte)'\r')
            {
                _pendingCr = true;
                continue;
            }

            WriteData(span, ref n, b);
        }

        _output.Advance(n);
        return true;
    }

    /// <summary>Ends the last line if it lacked a line break, and writes the terminating ".CRLF".</summary>
    public void Complete()
    {
        var span = _output.GetSpan(8);
        var n = 0;
        if (!_done)
        {
            if (_pendingCr)
            {
                _pendingCr = false;
                _atLineStart = true;
                span[n++] = (byte)'\r';
                span[n++] = (byte)'\n';
            }
            else if (!_atLineStart)
            {
                span[n++] = (byte)'\r';
                span[n++] = (byte)'\n';
            }
        }

        span[n++] = (byte)'.';
        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        _output.Advance(n);
        _done = true;
    }

    private void WriteData(Span<byte> span, ref int n, byte b)
    {
        if (_atLineStart && b == (byte)'.')
        {
            span[n++] = (byte)'.';
        }

        span[n++] = b;
        _atLineStart = false;
        _lineHasContent = true;
    }

    /// <summary>Tracks headers and body lines for TOP; returns true when the limit is reached.</summary>
    private bool EndLine()
    {
        var wasEmpty = !_lineHasContent;
        _lineHasContent = false;
        if (_bodyLineLimit is not { } limit)
        {
            return false;
        }

        if (!_inBody)
        {
            if (wasEmpty)
            {
                _inBody = true;
                _done = limit == 0;
            }

            return _done;
        }

        _bodyLines++;
        _done = _bodyLines >= limit;
        return _done;
    }
}
