using System.Buffers;

namespace Rempart.Common.Text;

/// <summary>Line primitives shared by the line-based protocol parsers (SMTP, POP3).</summary>
public static class LineBuffer
{
    /// <summary>
    /// Drops bytes up to and including the next LF (used after a too-long line). Returns true when the LF was found;
    /// otherwise the whole buffer was dropped and the caller keeps skipping after the next read.
    /// </summary>
    public static bool SkipLine(ref ReadOnlySequence<byte> buffer)
    {
        var lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            buffer = buffer.Slice(buffer.End);
            return false;
        }

        buffer = buffer.Slice(buffer.GetPosition(1, lf.Value));
        return true;
    }

    /// <summary>True when the (non-empty) sequence ends with CR.</summary>
    public static bool EndsWithCr(in ReadOnlySequence<byte> s) => s.Length > 0 && s.Slice(s.Length - 1).FirstSpan[0] == (byte)'\r';
}
