namespace Rempart.Protection.Rules;

/// <summary>
/// What a rule sees of a message. The pipeline fills it once per message; the engine only reads it, so the same
/// instance may be evaluated by several rule sets.
/// </summary>
public sealed class RuleMessage
{
    /// <summary>Envelope sender (MAIL FROM); "" for the null sender (bounces).</summary>
    public string Sender { get; init; } = "";

    /// <summary>Envelope recipients (RCPT TO).</summary>
    public IReadOnlyList<string> Recipients { get; init; } = [];

    /// <summary>The From header's address (or its raw value when it holds no address); null when absent.</summary>
    public string? FromHeader { get; init; }

    /// <summary>Header fields in message order, values unfolded and decoded.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public string Subject { get; init; } = "";

    /// <summary>Text of the message body (plain text, or HTML reduced to text), bounded by the caller.</summary>
    public string BodyText { get; init; } = "";

    public IReadOnlyList<RuleAttachment> Attachments { get; init; } = [];

    /// <summary>Size of the message in bytes, as received.</summary>
    public long Size { get; init; }

    /// <summary>Spam confidence level: -1 (trusted, not scanned) to 9 (certainly spam).</summary>
    public int Scl { get; init; } = -1;

    /// <summary>True for addresses in the organisation (served domains).</summary>
    public Func<string, bool> IsInternal { get; init; } = static _ => false;
}

/// <param name="FileName">Name the message gives the part, when any.</param>
/// <param name="DetectedType">Type found from the content (not trusted from the name): "exe", "zip", "pdf", "docm"...</param>
/// <param name="Size">Decoded size in bytes.</param>
public sealed record RuleAttachment(string? FileName, string DetectedType, long Size);
