namespace Rempart.Antivirus;

/// <summary>What the attachment policy decides for a whole message.</summary>
public enum PolicyVerdict
{
    Allow,
    Quarantine,
    Reject,
}

/// <summary>
/// One MIME leaf part or archive entry seen by the <see cref="AttachmentInspector"/>.
/// </summary>
/// <param name="FileName">The part's file name or the entry's path inside its archive.</param>
/// <param name="DeclaredType">The MIME type the sender declared (archive entries: "application/octet-stream").</param>
/// <param name="DetectedType">The type found from content (magic bytes), such as "exe", "zip", "docm", "text".</param>
/// <param name="Size">Decoded size in bytes (archive entries: the declared uncompressed size).</param>
/// <param name="Depth">Containers around it: 0 for a part of the message, 1 inside an archive or attached message, and so on.</param>
/// <param name="Container">The innermost archive's file name or "message/rfc822", null at the top level.</param>
public sealed record AttachmentInfo(string? FileName, string DeclaredType, string DetectedType, long Size, int Depth, string? Container);

/// <summary>The attachment policy's result: every part seen, the verdict, and why (null when allowed).</summary>
public sealed record InspectionResult(IReadOnlyList<AttachmentInfo> Attachments, PolicyVerdict Verdict, string? Reason);

/// <summary>What clamd said about one stream.</summary>
public enum ClamdScanStatus
{
    Clean,
    Infected,

    /// <summary>clamd could not be reached, timed out, or answered with an error.</summary>
    Error,

    /// <summary>clamd refused the stream as longer than its StreamMaxLength ("INSTREAM size limit exceeded").</summary>
    SizeLimitExceeded,
}

/// <summary>One clamd scan result.</summary>
/// <param name="Status">Clean, infected, error or size limit.</param>
/// <param name="SignatureName">The signature that matched, such as "Eicar-Signature" (infected only).</param>
/// <param name="Message">Why the scan failed (error and size limit only).</param>
public sealed record ClamdScanResult(ClamdScanStatus Status, string? SignatureName, string? Message)
{
    public static ClamdScanResult Clean { get; } = new(ClamdScanStatus.Clean, null, null);

    public static ClamdScanResult Infected(string signature) => new(ClamdScanStatus.Infected, signature, null);

    public static ClamdScanResult Error(string message) => new(ClamdScanStatus.Error, null, message);
}

/// <summary>What the antivirus step decides for a message.</summary>
public enum MalwareOutcome
{
    /// <summary>Policy allowed every part and the scanner (if any) found nothing.</summary>
    Clean,

    /// <summary>clamd found a signature: reject (or quarantine) the message.</summary>
    Infected,

    /// <summary>The attachment policy rejects the message (blocked type, zip bomb, policy "reject").</summary>
    Blocked,

    /// <summary>The attachment policy sends the message to quarantine (macro document, encrypted archive...).</summary>
    PolicyQuarantine,

    /// <summary>Scanner configured but unavailable with fail mode "closed": answer with a temporary failure.</summary>
    ScannerDownTempFail,

    /// <summary>Scanner configured but unavailable with fail mode "open": accept with <see cref="MalwareScanner.NotScannedHeader"/>.</summary>
    ScannerDownPassed,

    /// <summary>
    /// The message is larger than MaxScanSize or clamd's StreamMaxLength: the attachment policy applied, clamd did
    /// not scan it. Accept with <see cref="MalwareScanner.NotScannedHeader"/>; a retry would fail the same way.
    /// </summary>
    TooLargeToScan,
}

/// <summary>The antivirus step's verdict for a message.</summary>
/// <param name="Outcome">What to do with the message.</param>
/// <param name="Name">The signature name (infected only).</param>
/// <param name="Reason">A short explanation for logs, replies and the quarantine record.</param>
/// <param name="Attachments">Every part and archive entry the attachment policy saw.</param>
public sealed record MalwareVerdict(MalwareOutcome Outcome, string? Name, string? Reason, IReadOnlyList<AttachmentInfo> Attachments)
{
    /// <summary>
    /// Value of <see cref="MalwareScanner.NotScannedHeader"/> for a message accepted without a scan
    /// (<see cref="MalwareOutcome.ScannerDownPassed"/>, <see cref="MalwareOutcome.TooLargeToScan"/>); null otherwise.
    /// </summary>
    public string? NotScannedHeaderValue => Outcome is MalwareOutcome.ScannerDownPassed or MalwareOutcome.TooLargeToScan
        ? Reason ?? "not scanned"
        : null;
}

/// <summary>State of the antivirus scanner for the health model.</summary>
public enum AntivirusState
{
    /// <summary>No scanner configured: only the attachment policy applies.</summary>
    Off,
    Up,
    Down,
}

/// <summary>Scanner health: state, engine version, signature date (when clamd reports one) and the last error.</summary>
public sealed record AntivirusHealth(AntivirusState State, string? Version, DateTimeOffset? SignatureDate, string? Error);
