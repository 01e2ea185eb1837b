using System.Buffers;
using System.Text;
using Rempart.Common.Text;

namespace Rempart.Smtp.Protocol;

/// <summary>The commands the inbound engine knows (RFC 5321 section 4.1 plus extensions).</summary>
public enum SmtpVerb
{
    Unknown,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,

    /// <summary>RFC 3030 CHUNKING.</summary>
    Bdat,
    Rset,
    Noop,
    Quit,
    Help,
    Vrfy,
    Expn,

    /// <summary>RFC 3207.</summary>
    StartTls,

    /// <summary>RFC 4954.</summary>
    Auth,
}

/// <summary>One command line: the verb and the raw argument text after the first space (possibly empty).</summary>
public sealed record SmtpCommand(SmtpVerb Verb, string Argument)
{
    /// <summary>The verb as written, upper-case, for logs and unknown-command replies.</summary>
    public string VerbText { get; init; } = Verb.ToString().ToUpperInvariant();
}

/// <summary>What <see cref="SmtpLineReader.TryReadLine"/> found in the buffer.</summary>
public enum LineStatus
{
    /// <summary>No complete line yet: read more.</summary>
    NeedMore,

    /// <summary>A well-formed CRLF-terminated line (returned without the CRLF).</summary>
    Line,

    /// <summary>A complete line longer than the limit; it is consumed.</summary>
    TooLong,

    /// <summary>Longer than the limit and not ended yet: the bytes so far are consumed; call
    /// <see cref="LineBuffer.SkipLine"/> until it returns true.</summary>
    TooLongUnterminated,

    /// <summary>The line ended with a bare LF or contained a bare CR (RFC 5321 section 2.3.8); it is consumed.</summary>
    BareLineEnding,
}

/// <summary>
/// Splits command lines out of the input. Only CRLF ends a line; a bare LF or CR is reported, never treated as a line
/// end (the root of SMTP smuggling is two parties disagreeing on where a line ends).
/// </summary>
public static class SmtpLineReader
{
    /// <param name="maxLineLength">Longest line accepted, CRLF included (ListenerLimits.MaxLineLength).</param>
    public static LineStatus TryReadLine(ref ReadOnlySequence<byte> buffer, int maxLineLength, out ReadOnlySequence<byte> line)
    {
        line = default;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: false))
        {
            if (buffer.Length >= maxLineLength)
            {
                buffer = buffer.Slice(buffer.End);
                return LineStatus.TooLongUnterminated;
            }

            return LineStatus.NeedMore;
        }

        var lfPosition = reader.Position;
        var withoutLf = buffer.Slice(0, lfPosition);
        var consumedThrough = buffer.GetPosition(1, lfPosition);
        buffer = buffer.Slice(consumedThrough);
        if (withoutLf.Length + 1 > maxLineLength)
        {
            return LineStatus.TooLong;
        }

        if (withoutLf.Length == 0 || !LineBuffer.EndsWithCr(withoutLf))
        {
            return LineStatus.BareLineEnding;
        }

        line = withoutLf.Slice(0, withoutLf.Length - 1);
        if (line.PositionOf((byte)'\r') is not null)
        {
            return LineStatus.BareLineEnding;
        }

        return LineStatus.Line;
    }

    /// <summary>True when the buffer holds at least one more LF, that is a complete (or bad) line to process.</summary>
    public static bool HasCompleteLine(in ReadOnlySequence<byte> buffer) => buffer.PositionOf((byte)'\n') is not null;

}

/// <summary>Turns one command line (without CRLF) into an <see cref="SmtpCommand"/>.</summary>
public static class SmtpCommandParser
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses a line. Returns null when the line is not valid UTF-8 (reply 500 5.5.2).</summary>
    public static SmtpCommand? Parse(ReadOnlySpan<byte> line)
    {
        var space = line.IndexOf((byte)' ');
        var verbBytes = space < 0 ? line : line[..space];
        var argBytes = space < 0 ? [] : line[(space + 1)..];

        Span<byte> upper = stackalloc byte[8];
        var verb = SmtpVerb.Unknown;
        if (verbBytes.Length <= upper.Length)
        {
            var u = upper[..verbBytes.Length];
            for (var i = 0; i < verbBytes.Length; i++)
            {
                var b = verbBytes[i];
                u[i] = b is >= (byte)'a' and <= (byte)'z' ? (byte)(b - 32) : b;
            }

            verb = Lookup(u);
        }

        string argument;
        try
        {
            argument = s_strictUtf8.GetString(argBytes).Trim(' ');
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        var verbText = verb == SmtpVerb.Unknown
            ? Encoding.ASCII.GetString(verbBytes[..Math.Min(verbBytes.Length, 16)]).ToUpperInvariant()
            : verb.ToString().ToUpperInvariant();
        return new SmtpCommand(verb, argument) { VerbText = verbText };
    }

    private static SmtpVerb Lookup(ReadOnlySpan<byte> u)
    {
        if (u.SequenceEqual("EHLO"u8))
        {
            return SmtpVerb.Ehlo;
        }

        if (u.SequenceEqual("HELO"u8))
        {
            return SmtpVerb.Helo;
        }

        if (u.SequenceEqual("MAIL"u8))
        {
            return SmtpVerb.Mail;
        }

        if (u.SequenceEqual("RCPT"u8))
        {
            return SmtpVerb.Rcpt;
        }

        if (u.SequenceEqual("DATA"u8))
        {
            return SmtpVerb.Data;
        }

        if (u.SequenceEqual("BDAT"u8))
        {
            return SmtpVerb.Bdat;
        }

        if (u.SequenceEqual("RSET"u8))
        {
            return SmtpVerb.Rset;
        }

        if (u.SequenceEqual("NOOP"u8))
        {
            return SmtpVerb.Noop;
        }

        if (u.SequenceEqual("QUIT"u8))
        {
            return SmtpVerb.Quit;
        }

        if (u.SequenceEqual("HELP"u8))
        {
            return SmtpVerb.Help;
        }

        if (u.SequenceEqual("VRFY"u8))
        {
            return SmtpVerb.Vrfy;
        }

        if (u.SequenceEqual("EXPN"u8))
        {
            return SmtpVerb.Expn;
        }

        if (u.SequenceEqual("STARTTLS"u8))
        {
            return SmtpVerb.StartTls;
        }

        if (u.SequenceEqual("AUTH"u8))
        {
            return SmtpVerb.Auth;
        }

        return SmtpVerb.Unknown;
    }
}
