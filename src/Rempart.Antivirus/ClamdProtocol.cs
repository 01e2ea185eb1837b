using System.Globalization;
using System.Text;

namespace Rempart.Antivirus;

/// <summary>
/// Wire syntax of clamd's socket protocol (clamd(8), "COMMANDS"): commands are sent with the "z" prefix so
/// every reply ends with a NUL byte, and INSTREAM data goes as chunks each preceded by its length as a 4-byte
/// big-endian integer, ended by a zero-length chunk. Pure functions: the client does the I/O.
/// </summary>
internal static class ClamdProtocol
{
    /// <summary>Longest reply accepted; real replies are one short line (a signature name or an error).</summary>
    public const int MaxReplyLength = 4096;

    /// <summary>Chunk size for INSTREAM: small enough to notice an early error reply, large enough to be cheap.</summary>
    public const int ChunkSize = 64 * 1024;

    public static ReadOnlySpan<byte> Ping => "zPING\0"u8;

    public static ReadOnlySpan<byte> Version => "zVERSION\0"u8;

    public static ReadOnlySpan<byte> InStream => "zINSTREAM\0"u8;

    /// <summary>
    /// Finds the end of a reply (the NUL byte). Returns the reply length, -1 when more bytes are needed.
    /// </summary>
    public static int FindReplyEnd(ReadOnlySpan<byte> buffer) => buffer.IndexOf((byte)0);

    /// <summary>Reads a zINSTREAM reply: "stream: OK", "stream: NAME FOUND" or "... ERROR".</summary>
    public static ClamdScanResult ParseScanReply(ReadOnlySpan<byte> reply)
    {
        var text = Encoding.UTF8.GetString(reply).Trim('\0', ' ', '\r', '\n');
        if (text.StartsWith("INSTREAM size limit exceeded", StringComparison.Ordinal))
        {
            return new ClamdScanResult(ClamdScanStatus.SizeLimitExceeded, null, "clamd: " + text);
        }

        // The session id prefix ("1: ") only appears with IDSESSION, which this client never uses.
        var body = text.StartsWith("stream:", StringComparison.Ordinal) ? text["stream:".Length..].TrimStart() : text;
        if (body == "OK")
        {
            return ClamdScanResult.Clean;
        }

        if (body.EndsWith(" FOUND", StringComparison.Ordinal))
        {
            var name = body[..^" FOUND".Length].Trim();
            return name.Length > 0 ? ClamdScanResult.Infected(name) : ClamdScanResult.Error("clamd: malformed reply '" + text + "'");
        }

        if (body.EndsWith(" ERROR", StringComparison.Ordinal))
        {
            return ClamdScanResult.Error("clamd: " + body[..^" ERROR".Length].Trim());
        }

        return ClamdScanResult.Error("clamd: unexpected reply '" + Truncate(text, 200) + "'");
    }

    /// <summary>
    /// Splits a VERSION reply: "ClamAV 1.4.6/27000/Thu Nov 27 09:32:03 2025" gives the engine, the signature
    /// database version and its date; "ClamAV 1.4.6" (no official database loaded) gives the engine only.
    /// </summary>
    public static (string Engine, int? DatabaseVersion, DateTimeOffset? SignatureDate) ParseVersion(string reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var parts = reply.Trim('\0', ' ', '\r', '\n').Split('/', 3);
        int? db = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var d) ? d : null;
        DateTimeOffset? date = null;
        if (parts.Length > 2)
        {
            // asctime() format, day padded with a space ("Thu Nov  7 ..."); clamd prints the database's own time, taken as UTC.
            var normalized = string.Join(' ', parts[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            if (DateTimeOffset.TryParseExact(normalized, "ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
            {
                date = parsed;
            }
        }

        return (parts[0], db, date);
    }

    /// <summary>Writes one INSTREAM chunk header: the length as a 4-byte big-endian integer.</summary>
    public static void WriteChunkLength(Span<byte> destination, int length) =>
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(destination, checked((uint)length));

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "...";
}
