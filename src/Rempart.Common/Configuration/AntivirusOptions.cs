using System.Globalization;

namespace Rempart.Common.Configuration;

/// <summary>
/// Options of the protection pipeline's antivirus part (docs/protection/antivirus.md): the ClamAV daemon used to scan
/// messages and the attachment policy, which applies even when no scanner is configured.
/// </summary>
public sealed class AntivirusOptions
{
    /// <summary>
    /// The clamd socket: <c>unix:/run/clamav/clamd.ctl</c> or <c>tcp:127.0.0.1:3310</c>. Null (the default, a first
    /// run) means no scanner: the attachment policy still applies and health reports antivirus as off.
    /// </summary>
    public string? Clamd { get; set; }

    /// <summary>Time one clamd exchange (connect, send, verdict) may take before the scanner counts as down.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// What happens when the scanner is configured but down: "closed" (default: the message gets a temporary
    /// failure and the sender retries) or "open" (the message is accepted with a header saying it was not scanned).
    /// </summary>
    public string FailMode { get; set; } = "closed";

    /// <summary>
    /// Largest message sent to clamd, in bytes. Keep it at or below clamd's StreamMaxLength (25 MB by default);
    /// larger messages get the attachment policy only and a "not scanned: too large" outcome.
    /// </summary>
    public long MaxScanSize { get; set; } = 25L * 1024 * 1024;

    /// <summary>
    /// Attachment types refused, by the names of Exchange Online Protection's common attachment filter. A part is
    /// blocked when its file name extension or its type detected from content (magic bytes) is in this list.
    /// </summary>
    public List<string> BlockedTypes { get; set; } = [.. DefaultBlockedTypes];

    /// <summary>Office documents with macros (VBA project): "quarantine" (default), "allow" or "reject".</summary>
    public string MacroDocuments { get; set; } = "quarantine";

    /// <summary>Password-protected archives, which no scanner can open: "quarantine" (default), "allow" or "reject".</summary>
    public string EncryptedArchives { get; set; } = "quarantine";

    /// <summary>
    /// Archives that cannot be inspected (nested deeper than <see cref="MaxArchiveDepth"/>, or corrupt):
    /// "quarantine" (default), "allow" or "reject".
    /// </summary>
    public string UnscannableArchives { get; set; } = "quarantine";

    /// <summary>Archives inside archives opened, counting the outermost as 1.</summary>
    public int MaxArchiveDepth { get; set; } = 3;

    /// <summary>Total uncompressed bytes of all archive entries of one message; more is refused as a zip bomb.</summary>
    public long MaxArchiveExpandedSize { get; set; } = 100L * 1024 * 1024;

    /// <summary>Total archive entries of one message; more is refused as a zip bomb.</summary>
    public int MaxArchiveFiles { get; set; } = 1000;

    /// <summary>Uncompressed-to-compressed ratio above which a large entry (1 MiB or more) is refused as a zip bomb.</summary>
    public int MaxCompressionRatio { get; set; } = 100;

    /// <summary>Nesting of multiparts and attached messages walked; deeper parts make the message quarantined.</summary>
    public int MaxMimeDepth { get; set; } = 16;

    /// <summary>
    /// The default of <see cref="BlockedTypes"/>: executables and scripts, as in Exchange Online Protection's common
    /// attachment filter, plus the Unix executable and script types Rempart detects by content.
    /// </summary>
    public static IReadOnlyList<string> DefaultBlockedTypes { get; } =
    [
        "ace", "ani", "apk", "app", "appx", "arj", "bat", "cab", "cmd", "com", "cpl", "deb", "dex", "dll", "elf",
        "exe", "hta", "img", "iso", "jar", "jnlp", "js", "jse", "kext", "lnk", "lzh", "macho", "msc", "msi", "msix",
        "msp", "mst", "pif", "pl", "ppa", "ppam", "ps1", "py", "reg", "scf", "scr", "sct", "sh", "sys", "vb", "vbe",
        "vbs", "vhd", "vhdx", "vxd", "wsc", "wsf", "wsh", "xll",
    ];

    private static readonly string[] Policies = ["quarantine", "allow", "reject"];

    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (Clamd is not null && !IsValidClamdEndpoint(Clamd))
        {
            yield return $"'{prefix}.clamd': must be \"unix:/absolute/path\" or \"tcp:host:port\" (port 1-65535), or null for no scanner.";
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromMinutes(10))
        {
            yield return $"'{prefix}.timeout': must be more than 0 and at most 00:10:00.";
        }

        if (FailMode is not ("closed" or "open"))
        {
            yield return $"'{prefix}.failMode': must be \"closed\" (temporary failure) or \"open\" (accept with a header).";
        }

        if (MaxScanSize <= 0)
        {
            yield return $"'{prefix}.maxScanSize': must be positive.";
        }

        foreach (var t in BlockedTypes)
        {
            if (string.IsNullOrEmpty(t) || t.Length > 16 || !t.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
            {
                yield return $"'{prefix}.blockedTypes': '{t}' must be a lower-case type name without a dot, such as \"exe\".";
            }
        }

        foreach (var (key, value) in new[] { ("macroDocuments", MacroDocuments), ("encryptedArchives", EncryptedArchives), ("unscannableArchives", UnscannableArchives) })
        {
            if (!Policies.Contains(value, StringComparer.Ordinal))
            {
                yield return $"'{prefix}.{key}': must be \"quarantine\", \"allow\" or \"reject\".";
            }
        }

        if (MaxArchiveDepth is < 0 or > 10)
        {
            yield return $"'{prefix}.maxArchiveDepth': must be between 0 (archives not opened) and 10.";
        }

        if (MaxArchiveExpandedSize <= 0)
        {
            yield return $"'{prefix}.maxArchiveExpandedSize': must be positive.";
        }

        if (MaxArchiveFiles <= 0)
        {
            yield return $"'{prefix}.maxArchiveFiles': must be positive.";
        }

        if (MaxCompressionRatio < 1)
        {
            yield return $"'{prefix}.maxCompressionRatio': must be at least 1.";
        }

        if (MaxMimeDepth is < 1 or > 100)
        {
            yield return $"'{prefix}.maxMimeDepth': must be between 1 and 100.";
        }
    }

    /// <summary>True for "unix:/absolute/path" or "tcp:host:port" with a port in 1-65535.</summary>
    public static bool IsValidClamdEndpoint(string endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            return endpoint.Length > 6 && endpoint[5] == '/';
        }

        if (endpoint.StartsWith("tcp:", StringComparison.Ordinal))
        {
            var rest = endpoint.AsSpan(4);
            var colon = rest.LastIndexOf(':');
            return colon > 0
                && int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port)
                && port is > 0 and <= 65535;
        }

        return false;
    }
}
