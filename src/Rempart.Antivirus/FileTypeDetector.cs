using System.Buffers.Binary;
using System.Text;

namespace Rempart.Antivirus;

/// <summary>
/// Finds a file's real type from its content (magic bytes), not from its name or declared MIME type, so that an
/// executable renamed "invoice.txt" is still an "exe". Type names follow the extensions of Exchange Online
/// Protection's common attachment filter so one list (<c>BlockedTypes</c>) matches both names and content.
/// Containers (zip, OLE2) are refined by the <see cref="AttachmentInspector"/>, which opens them.
/// </summary>
internal static class FileTypeDetector
{
    /// <summary>Bytes of the head needed to recognise every type (ISO 9660 has its mark at 0x8001).</summary>
    public const int HeadLength = 0x8001 + 5;

    /// <summary>Bytes of a text file searched for script markers.</summary>
    private const int ScriptScanLength = 64 * 1024;

    private static ReadOnlySpan<byte> TnefMagic => [0x78, 0x9F, 0x3E, 0x22];

    private static ReadOnlySpan<byte> Ole2Magic => [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

    private static ReadOnlySpan<byte> GzipMagic => [0x1F, 0x8B];

    private static ReadOnlySpan<byte> SevenZipMagic => [(byte)'7', (byte)'z', 0xBC, 0xAF, 0x27, 0x1C];

    private static ReadOnlySpan<byte> XzMagic => [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00];

    private static ReadOnlySpan<byte> LnkMagic => [0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46];

    private static ReadOnlySpan<byte> PngMagic => [0x89, (byte)'P', (byte)'N', (byte)'G'];

    private static ReadOnlySpan<byte> JpegMagic => [0xFF, 0xD8, 0xFF];

    /// <summary>
    /// The detected type of <paramref name="data"/> (its head at least). <paramref name="scriptHeuristics"/> turns on
    /// the content heuristics for Windows scripts, meant for attachments only: a message body that quotes a
    /// PowerShell command is not a script.
    /// </summary>
    public static string Detect(ReadOnlySpan<byte> data, bool scriptHeuristics)
    {
        if (data.IsEmpty)
        {
            return "empty";
        }

        if (data.StartsWith("MZ"u8))
        {
            // PE (exe, dll, scr, sys, cpl...) or a DOS executable: either way a Windows executable.
            return "exe";
        }

        if (data.StartsWith("\u007FELF"u8))
        {
            return "elf";
        }

        if (data.Length >= 4)
        {
            var magic = BinaryPrimitives.ReadUInt32BigEndian(data);
            switch (magic)
            {
                case 0xFEEDFACE or 0xFEEDFACF or 0xCEFAEDFE or 0xCFFAEDFE:
                    return "macho";
                case 0xCAFEBABE:
                    // Shared by universal Mach-O binaries (a small architecture count follows) and Java classes
                    // (a class file version of 45 or more follows).
                    return data.Length >= 8 && BinaryPrimitives.ReadUInt32BigEndian(data[4..]) < 45 ? "macho" : "class";
                default:
                    break;
            }
        }

        if (data.StartsWith("PK\x03\x04"u8) || data.StartsWith("PK\x05\x06"u8) || data.StartsWith("PK\x07\x08"u8))
        {
            return "zip";
        }

        if (data.StartsWith(Ole2Magic))
        {
            return "ole2";
        }

        if (data.StartsWith("%PDF-"u8))
        {
            return "pdf";
        }

        if (data.StartsWith(GzipMagic))
        {
            return "gz";
        }

        if (data.StartsWith(SevenZipMagic))
        {
            return "7z";
        }

        if (data.StartsWith("Rar!\x1A\x07"u8))
        {
            return "rar";
        }

        if (data.StartsWith(XzMagic))
        {
            return "xz";
        }

        if (data.StartsWith("BZh"u8))
        {
            return "bz2";
        }

        if (data.StartsWith("MSCF\0\0\0\0"u8))
        {
            return "cab";
        }

        if (data.StartsWith("!<arch>\ndebian"u8))
        {
            return "deb";
        }

        if (data.StartsWith(TnefMagic))
        {
            return "tnef"; // [MS-OXTNEF] 2.1.3.1 TNEF signature, little-endian 0x223E9F78
        }

        if (data.StartsWith("dex\n"u8))
        {
            return "dex";
        }

        // Shell link header: size 0x4C then the LinkCLSID {00021401-0000-0000-C000-000000000046} ([MS-SHLLINK] 2.1).
        if (data.StartsWith(LnkMagic))
        {
            return "lnk";
        }

        // ISO 9660 primary volume descriptor "CD001" at sector 16 (ECMA-119 8.4); UDF images carry the same mark.
        if (data.Length >= HeadLength && data.Slice(0x8001, 5).SequenceEqual("CD001"u8))
        {
            return "iso";
        }

        // VHDX file type identifier, or a fixed VHD's footer cookie at its start (dynamic disks copy it there).
        if (data.StartsWith("vhdxfile"u8))
        {
            return "vhdx";
        }

        if (data.StartsWith("conectix"u8))
        {
            return "vhd";
        }

        if (data.StartsWith(PngMagic))
        {
            return "png";
        }

        if (data.StartsWith(JpegMagic))
        {
            return "jpg";
        }

        if (data.StartsWith("GIF8"u8))
        {
            return "gif";
        }

        if (data.StartsWith("#!"u8) && scriptHeuristics)
        {
            return Shebang(data);
        }

        if (!LooksLikeText(data))
        {
            return "binary";
        }

        return scriptHeuristics ? WindowsScript(data) ?? "text" : "text";
    }

    private static string Shebang(ReadOnlySpan<byte> data)
    {
        var end = data.IndexOfAny((byte)'\n', (byte)'\r');
        var line = Encoding.ASCII.GetString(end < 0 ? data[..Math.Min(data.Length, 256)] : data[..Math.Min(end, 256)]);
        if (line.Contains("python", StringComparison.Ordinal))
        {
            return "py";
        }

        if (line.Contains("perl", StringComparison.Ordinal))
        {
            return "pl";
        }

        if (line.Contains("node", StringComparison.Ordinal))
        {
            return "js";
        }

        if (line.Contains("pwsh", StringComparison.Ordinal) || line.Contains("powershell", StringComparison.Ordinal))
        {
            return "ps1";
        }

        // sh, bash, dash, zsh, ksh, env and every other interpreter: the kernel runs it, so it is a shell-level script.
        return "sh";
    }

    /// <summary>
    /// Windows scripts have no magic bytes; these markers are what droppers need (object creation, download,
    /// execution), so a renamed script is still caught while ordinary text is not.
    /// </summary>
    private static string? WindowsScript(ReadOnlySpan<byte> data)
    {
        var text = Encoding.Latin1.GetString(data[..Math.Min(data.Length, ScriptScanLength)]);
        var start = text.TrimStart('\uFEFF', '\u00EF', '\u00BB', '\u00BF', ' ', '\t', '\r', '\n');
        if (start.StartsWith("#@~^", StringComparison.Ordinal))
        {
            return "vbe"; // Script Encoder output
        }

        if (Has(text, "<hta:application"))
        {
            return "hta";
        }

        if (Has(text, "<job") && Has(text, "<script"))
        {
            return "wsf";
        }

        if (start.StartsWith("@echo off", StringComparison.OrdinalIgnoreCase))
        {
            return "bat";
        }

        if (Has(text, "new ActiveXObject(") || (Has(text, "WScript.") && (Has(text, "var ") || Has(text, "function"))))
        {
            return "js";
        }

        if (Has(text, "CreateObject(") || Has(text, "WScript."))
        {
            return "vbs";
        }

        if (Has(text, "Invoke-Expression") || Has(text, "-EncodedCommand") || Has(text, "Net.WebClient")
            || Has(text, "DownloadString(") || Has(text, "Invoke-WebRequest") || Has(text, "IEX("))
        {
            return "ps1";
        }

        return null;
    }

    private static bool Has(string text, string marker) => text.Contains(marker, StringComparison.OrdinalIgnoreCase);

    /// <summary>Text has no NUL and few control bytes in its head (UTF-8 and Latin-1 both pass).</summary>
    private static bool LooksLikeText(ReadOnlySpan<byte> data)
    {
        var head = data[..Math.Min(data.Length, 4096)];
        var control = 0;
        foreach (var b in head)
        {
            if (b == 0)
            {
                return false;
            }

            if (b < 0x20 && b is not ((byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0C or 0x1B))
            {
                control++;
            }
        }

        return control * 100 < head.Length * 5;
    }

    /// <summary>The lower-case extension of a file name without the dot, or null.</summary>
    public static string? Extension(string? fileName)
    {
        if (string.IsNullOrEmpty(fileName))
        {
            return null;
        }

        // Trailing dots and spaces are dropped by Windows when saving ("evil.exe." runs as evil.exe).
        var name = fileName.TrimEnd('.', ' ');
        var slash = name.LastIndexOfAny(['/', '\\']);
        var dot = name.LastIndexOf('.');
        return dot > slash && dot < name.Length - 1 ? name[(dot + 1)..].ToLowerInvariant() : null;
    }
}
