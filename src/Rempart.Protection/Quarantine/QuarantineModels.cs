using Rempart.Store;

namespace Rempart.Protection.Quarantine;

/// <summary>What happened to one recipient of a released message.</summary>
public enum ReleaseOutcome
{
    /// <summary>Stored in the INBOX of a local account.</summary>
    Delivered,

    /// <summary>Put in the outbound queue (a remote recipient or an alias forwarding outside).</summary>
    Queued,

    /// <summary>The account is over quota; nothing stored for it.</summary>
    OverQuota,

    /// <summary>The address no longer exists here (account or alias removed since).</summary>
    Unknown,

    /// <summary>The account is disabled.</summary>
    Disabled,
}

/// <param name="Recipient">The envelope recipient the message was meant for.</param>
/// <param name="Where">Human-readable destination: "INBOX of bob@example.com (UID 7)", "queue entry 12 for remote.example", or why not.</param>
public sealed record ReleaseDestination(string Recipient, ReleaseOutcome Outcome, string Where);

/// <summary>The outcome of <see cref="QuarantineService.ReleaseAsync"/>.</summary>
public sealed record ReleaseResult(long Id, DateTimeOffset Released, string ReleasedBy, IReadOnlyList<ReleaseDestination> Destinations)
{
    /// <summary>True when at least one copy was stored or queued.</summary>
    public bool AnyDelivered => Destinations.Any(d => d.Outcome is ReleaseOutcome.Delivered or ReleaseOutcome.Queued);
}

/// <summary>An attachment listed in a preview: its name and declared type only, its content is never decoded.</summary>
public sealed record PreviewAttachment(string Name, string ContentType, string Disposition);

/// <summary>
/// A safe rendering of a held message for an administrator's terminal: selected headers and the text body, with
/// control characters, ANSI escape sequences and bidirectional overrides removed, HTML turned into text, every field
/// length-bounded; attachments listed by name and type.
/// </summary>
public sealed record QuarantinePreview(
    QuarantineRecord Entry,
    IReadOnlyList<(string Name, string Value)> Headers,
    string Body,
    bool BodyFromHtml,
    bool BodyTruncated,
    IReadOnlyList<PreviewAttachment> Attachments,
    int AttachmentsNotListed)
{
    /// <summary>The whole preview as plain text lines.</summary>
    public string ToText()
    {
        var text = new System.Text.StringBuilder();
        var width = Headers.Count == 0 ? 0 : Headers.Max(h => h.Name.Length) + 2;
        foreach (var (name, value) in Headers)
        {
            text.Append((name + ":").PadRight(width)).Append(value).Append('\n');
        }

        text.Append('\n');
        if (Attachments.Count > 0 || AttachmentsNotListed > 0)
        {
            text.Append("Attachments (not opened):\n");
            foreach (var a in Attachments)
            {
                text.Append("  - ").Append(a.Name).Append(" (").Append(a.ContentType).Append(", ").Append(a.Disposition).Append(")\n");
            }

            if (AttachmentsNotListed > 0)
            {
                text.Append("  ... and ").Append(AttachmentsNotListed).Append(" more\n");
            }

            text.Append('\n');
        }

        text.Append(BodyFromHtml ? "--- body (HTML shown as text) ---\n" : "--- body ---\n");
        text.Append(Body.Length == 0 ? "(no text body)" : Body).Append('\n');
        if (BodyTruncated)
        {
            text.Append("--- (truncated) ---\n");
        }

        return text.ToString();
    }
}

/// <summary>A quarantine action refused for a reason the administrator can act on (not found, already released).</summary>
public sealed class QuarantineException : Exception
{
    public QuarantineException()
    {
    }

    public QuarantineException(string message)
        : base(message)
    {
    }

    public QuarantineException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
