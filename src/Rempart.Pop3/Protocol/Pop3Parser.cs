using System.Buffers;
using System.Globalization;
using System.Text;
using Rempart.Common.Text;

namespace Rempart.Pop3.Protocol;

public enum Pop3LineStatus
{
    /// <summary>No complete line yet: read more bytes.</summary>
    NeedMore,

    /// <summary>One line was taken from the buffer.</summary>
    Line,

    /// <summary>
    /// The line exceeds the limit. The buffer is left as is: the caller answers -ERR and calls
    /// <see cref="LineBuffer.SkipLine"/> until the end of the line has been dropped.
    /// </summary>
    TooLong,
}

/// <summary>A parsed command line: its kind, arguments and, when it is malformed, why.</summary>
public sealed record Pop3Command(Pop3CommandKind Kind, string Keyword, IReadOnlyList<string> Arguments, IReadOnlyList<long> Numbers, string? Error)
{
    public bool IsValid => Kind != Pop3CommandKind.Unknown && Error is null;

    /// <summary>The command as it may appear in a log: arguments of PASS and AUTH (and of unknown commands,
    /// which may be a mistyped PASS) are replaced so no secret is ever logged (house style, habit 8).</summary>
    public string Redacted => Kind switch
    {
        Pop3CommandKind.Pass => "PASS <redacted>",
        Pop3CommandKind.Auth when Arguments.Count > 1 => "AUTH " + Arguments[0] + " <redacted>",
        Pop3CommandKind.Auth when Arguments.Count == 1 => "AUTH " + Arguments[0],
        Pop3CommandKind.Unknown => Keyword + (Arguments.Count > 0 ? " <redacted>" : string.Empty),
        _ => Arguments.Count == 0 ? Keyword : Keyword + " " + string.Join(' ', Arguments),
    };
}

/// <summary>
/// POP3 wire syntax (RFC 1939 section 3): lines ending in CRLF, a case-insensitive keyword, arguments separated by
/// single spaces. Pure functions over bytes: no I/O, no session state (house style, habit 2).
/// </summary>
public static class Pop3Parser
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Takes one line off <paramref name="buffer"/>. The line excludes its CRLF (a bare LF is accepted as well, as most
    /// servers do). <paramref name="maxLineLength"/> counts the CRLF; only that many bytes are ever scanned.
    /// </summary>
    public static Pop3LineStatus TryReadLine(ref ReadOnlySequence<byte> buffer, int maxLineLength, out ReadOnlySequence<byte> line)
    {
        var window = buffer.Length > maxLineLength ? buffer.Slice(0, maxLineLength) : buffer;
        var lf = window.PositionOf((byte)'\n');
        if (lf is null)
        {
            line = default;
            return buffer.Length >= maxLineLength ? Pop3LineStatus.TooLong : Pop3LineStatus.NeedMore;
        }

        var raw = buffer.Slice(0, lf.Value);
        if (LineBuffer.EndsWithCr(raw))
        {
            raw = raw.Slice(0, raw.Length - 1);
        }

        line = raw;
        buffer = buffer.Slice(buffer.GetPosition(1, lf.Value));
        return Pop3LineStatus.Line;
    }

    /// <summary>Decodes a line sent during a SASL exchange (base64 or "*"), or null when it holds non-ASCII bytes.</summary>
    public static string? ReadSaslLine(ReadOnlySequence<byte> line)
    {
        var bytes = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        return Ascii.IsValid(bytes) ? Encoding.ASCII.GetString(bytes).Trim() : null;
    }

    public static Pop3Command ParseCommand(ReadOnlySequence<byte> line) =>
        ParseCommand(line.IsSingleSegment ? line.FirstSpan : line.ToArray());

    /// <summary>Parses one command line (without CRLF) against <see cref="Pop3StateTable"/>.</summary>
    public static Pop3Command ParseCommand(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty)
        {
            return Invalid(string.Empty, "Empty command");
        }

        var space = line.IndexOf((byte)' ');
        var keywordBytes = space < 0 ? line : line[..space];
        var rest = space < 0 ? [] : line[(space + 1)..];

        // RFC 1939: keywords are three or four printable ASCII characters.
        if (keywordBytes.Length is < 1 or > 16 || !IsPrintableAscii(keywordBytes))
        {
            return Invalid("?", "Malformed command");
        }

        var keyword = Encoding.ASCII.GetString(keywordBytes).ToUpperInvariant();
        var spec = Pop3StateTable.Find(keywordBytes);
        if (spec is null)
        {
            return new Pop3Command(Pop3CommandKind.Unknown, keyword, rest.IsEmpty ? [] : ["?"], [], "Unknown command");
        }

        if (rest.IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0 || rest.Contains((byte)0x7F))
        {
            return Invalid(keyword, spec.Kind, "Control characters are not allowed in a command");
        }

        string restText;
        try
        {
            restText = s_strictUtf8.GetString(rest);
        }
        catch (DecoderFallbackException)
        {
            return Invalid(keyword, spec.Kind, "Command is not valid UTF-8");
        }

        string[] args;
        if (spec.Arguments == Pop3ArgumentKind.Rest)
        {
            args = restText.Length == 0 ? [] : [restText];
        }
        else
        {
            args = restText.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }

        if (args.Length < spec.MinArguments || args.Length > spec.MaxArguments)
        {
            var error = spec.MinArguments == spec.MaxArguments
                ? string.Create(CultureInfo.InvariantCulture, $"{keyword} takes {spec.MinArguments} argument(s)")
                : string.Create(CultureInfo.InvariantCulture, $"{keyword} takes {spec.MinArguments} to {spec.MaxArguments} arguments");
            return new Pop3Command(spec.Kind, keyword, args, [], error);
        }

        long[] numbers = [];
        if (spec.Arguments == Pop3ArgumentKind.Numbers)
        {
            numbers = new long[args.Length];
            for (var i = 0; i < args.Length; i++)
            {
                // Digits only, at most 9 so the value fits any counter; no sign, no spaces, no hex.
                if (args[i].Length > 9 || !args[i].AsSpan().ContainsOnlyDigits())
                {
                    return new Pop3Command(spec.Kind, keyword, args, [], "Invalid number: " + Truncate(args[i]));
                }

                numbers[i] = long.Parse(args[i], NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }

        return new Pop3Command(spec.Kind, keyword, args, numbers, null);
    }

    private static bool ContainsOnlyDigits(this ReadOnlySpan<char> s) => !s.IsEmpty && !s.ContainsAnyExceptInRange('0', '9');

    private static string Truncate(string s) => s.Length <= 20 ? s : s[..20] + "...";

    private static bool IsPrintableAscii(ReadOnlySpan<byte> s) => !s.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E);

    private static Pop3Command Invalid(string keyword, string error) => new(Pop3CommandKind.Unknown, keyword, [], [], error);

    private static Pop3Command Invalid(string keyword, Pop3CommandKind kind, string error) => new(kind, keyword, [], [], error);
}
