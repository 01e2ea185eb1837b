using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;

namespace Rempart.Protection.Rules;

/// <summary>What <see cref="MessageRewriter.Rewrite"/> did.</summary>
/// <param name="Message">The rewritten message, or the input itself when nothing changed.</param>
/// <param name="Changed">False when <paramref name="Message"/> holds the input bytes unchanged.</param>
/// <param name="Notes">What was left alone and why (signed body, no text part, unreadable MIME).</param>
public sealed record RewriteResult(byte[] Message, bool Changed, IReadOnlyList<string> Notes);

/// <summary>
/// Applies the content actions of a <see cref="RuleOutcome"/> to a message: header removal then addition, subject
/// prefix, disclaimer. Envelope actions (reject, redirect, recipients, route, score) are the pipeline's.
/// </summary>
public static class MessageRewriter
{
    private static readonly FormatOptions Format = CreateFormat();

    /// <summary>The rewritten message; the input bytes unchanged when the outcome changes nothing.</summary>
    public static byte[] Apply(RuleOutcome outcome, ReadOnlyMemory<byte> raw) => Rewrite(outcome, raw).Message;

    /// <summary>As <see cref="Apply"/>, also saying what was changed and what was left alone.</summary>
    public static RewriteResult Rewrite(RuleOutcome outcome, ReadOnlyMemory<byte> raw)
    {
        var notes = new List<string>();
        if (!outcome.ChangesContent)
        {
            return new(Unchanged(raw), false, notes);
        }

        // Disposed when written: MimeKit's messages have finalizers, and an undisposed parse outlives a collection.
        using var message = TryParse(raw, notes);
        if (message is null)
        {
            // Not MIME at all: delivering it untouched beats losing it over a header or a footer.
            return new(Unchanged(raw), false, notes);
        }

        var changed = false;
        foreach (var name in outcome.RemoveHeaders)
        {
            if (message.Headers.Contains(name))
            {
                message.Headers.RemoveAll(name);
                changed = true;
            }
        }

        foreach (var (name, value) in outcome.AddHeaders)
        {
            message.Headers.Add(new Header(Encoding.UTF8, name, value));
            changed = true;
        }

        if (outcome.SubjectPrefix is { } prefix && PrefixSubject(message, prefix))
        {
            changed = true;
        }

        if (outcome.Disclaimer is { } disclaimer)
        {
            changed |= AppendDisclaimer(message, disclaimer, notes);
        }

        if (!changed)
        {
            return new(Unchanged(raw), false, notes);
        }

        using var output = new MemoryStream(raw.Length + 1024);
        message.WriteTo(Format, output);
        return new(output.ToArray(), true, notes);
    }

    /// <summary>The message parsed, or null with a note saying why it could not be.</summary>
    private static MimeMessage? TryParse(ReadOnlyMemory<byte> raw, List<string> notes)
    {
        try
        {
            using var input = new MemoryStream(Unchanged(raw), writable: false);
            return MimeMessage.Load(input);
        }
        catch (FormatException ex)
        {
            notes.Add("the message could not be parsed as MIME (" + ex.Message + "); it was left unchanged");
            return null;
        }
    }

    /// <summary>
    /// Adds the prefix unless the subject already starts with it (a reply, or a message that passed twice), so
    /// "[EXT] [EXT] Re: ..." never happens.
    /// </summary>
    private static bool PrefixSubject(MimeMessage message, string prefix)
    {
        var p = prefix.Trim();
        if (p.Length == 0)
        {
            return false;
        }

        var subject = message.Subject ?? "";
        if (subject.TrimStart().StartsWith(p, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        message.Subject = subject.Length == 0 ? p : p + " " + subject;
        return true;
    }

    private static bool AppendDisclaimer(MimeMessage message, string disclaimer, List<string> notes)
    {
        var state = new DisclaimerState(disclaimer, notes);
        state.Visit(message.Body);
        if (!state.Done && !state.Protected)
        {
            notes.Add("the message has no text body; the disclaimer was not added");
        }

        return state.Done;
    }

    private sealed class DisclaimerState(string disclaimer, List<string> notes)
    {
        public bool Done { get; private set; }

        public bool Protected { get; private set; }

        /// <summary>Appends to the body of <paramref name="entity"/>: the first text part, not attachments.</summary>
        public void Visit(MimeEntity? entity)
        {
            switch (entity)
            {
                // RFC 1847 / RFC 8551: changing a signed or encrypted body breaks the signature or cannot be done.
                case MultipartSigned or MultipartEncrypted or ApplicationPkcs7Mime:
                    Protected = true;
                    notes.Add("the body is signed or encrypted (" + entity.ContentType.MimeType + "); the disclaimer was not added to keep it intact");
                    break;
                case TextPart text when !text.IsAttachment && (text.IsPlain || text.IsHtml):
                    Append(text);
                    break;
                case MultipartAlternative alternative:
                    // RFC 2046 5.1.4: each alternative shows the same content; the first plain and the first HTML
                    // version both get the footer so whichever the reader picks carries it.
                    var plainDone = false;
                    var htmlDone = false;
                    foreach (var part in alternative)
                    {
                        if (part is TextPart { IsAttachment: false } t)
                        {
                            if (t.IsPlain && !plainDone)
                            {
                                plainDone = true;
                                Append(t);
                            }
                            else if (t.IsHtml && !htmlDone)
                            {
                                htmlDone = true;
                                Append(t);
                            }
                        }
                        else if (part is Multipart { ContentType.MediaSubtype: var sub } related && sub.Equals("related", StringComparison.OrdinalIgnoreCase) && !htmlDone)
                        {
                            // multipart/related holds the HTML version with its inline images.
                            if (FirstBodyPart(related) is TextPart { IsHtml: true } html)
                            {
                                htmlDone = true;
                                Append(html);
                            }
                        }
                        else if (part is MultipartSigned or MultipartEncrypted or ApplicationPkcs7Mime)
                        {
                            Visit(part);
                        }
                    }

                    break;
                case Multipart multipart:
                    // mixed, related and others: the first part is the body, the rest are attachments.
                    Visit(FirstBodyPart(multipart));
                    break;
                default:
                    break;
            }
        }

        private static MimeEntity? FirstBodyPart(Multipart multipart)
        {
            if (multipart is MultipartRelated { Root: { } root })
            {
                return root;
            }

            foreach (var part in multipart)
            {
                return part is MimePart { IsAttachment: true } ? null : part;
            }

            return null;
        }

        private void Append(TextPart part)
        {
            var original = part.Text ?? "";
            string updated;
            if (part.IsHtml)
            {
                var html = "<div class=\"rempart-disclaimer\">" + WebUtility.HtmlEncode(disclaimer).Replace("\n", "<br>\n", StringComparison.Ordinal) + "</div>\n";
                var body = original.LastIndexOf("</body>", StringComparison.OrdinalIgnoreCase);
                updated = body >= 0 ? original[..body] + html + original[body..] : original + (original.EndsWith('\n') ? "" : "\n") + html;
            }
            else
            {
                updated = original + (original.EndsWith('\n') || original.Length == 0 ? "" : "\n") + "\n" + disclaimer + "\n";
            }

            var encoding = EncodingFor(part, updated);
            var cte = part.ContentTransferEncoding;
            part.SetText(encoding, updated);

            // A 7bit (or unlabelled) part may now hold 8-bit text: re-encode so the part stays valid (RFC 2045 6.2).
            part.ContentTransferEncoding = cte is ContentEncoding.Base64 or ContentEncoding.QuotedPrintable
                ? cte
                : part.GetBestEncoding(EncodingConstraint.SevenBit);
            Done = true;
        }

        /// <summary>Keeps the part's charset when it can carry the new text; UTF-8 otherwise.</summary>
        private static Encoding EncodingFor(TextPart part, string text)
        {
            if (part.ContentType.Charset is { Length: > 0 } charset)
            {
                try
                {
                    var e = Encoding.GetEncoding(charset, EncoderFallback.ExceptionFallback, DecoderFallback.ReplacementFallback);
                    _ = e.GetByteCount(text);
                    return e;
                }
                catch (ArgumentException)
                {
                    // Unknown charset, or the text does not fit it (EncoderFallbackException is an ArgumentException).
                }
            }

            return Encoding.UTF8;
        }
    }

    private static byte[] Unchanged(ReadOnlyMemory<byte> raw) =>
        MemoryMarshal.TryGetArray(raw, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : raw.ToArray();

    private static FormatOptions CreateFormat()
    {
        // SMTP lines end in CRLF (RFC 5321 2.3.8) whatever the platform's newline.
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        return options;
    }
}
