using MimeKit;

namespace Rempart.Store.Mime;

/// <summary>
/// Builds the IMAP ENVELOPE and BODYSTRUCTURE of a message (RFC 9051 section 7.5.2) once, at delivery, so FETCH
/// never parses MIME for them. Owned by the IMAP work; the store calls it from its message analyzer.
/// </summary>
public static class ImapStructure
{
    /// <summary>The ENVELOPE list, as sent on the wire, parentheses included.</summary>
    public static string Envelope(MimeMessage message) => throw new NotImplementedException();

    /// <summary>BODY and BODYSTRUCTURE lists, as sent on the wire; <paramref name="raw"/> is the message's bytes
    /// (sizes and line counts are of the raw octets).</summary>
    public static (string Body, string BodyStructure) Structure(MimeMessage message, ReadOnlyMemory<byte> raw) => throw new NotImplementedException();
}
