using System.Text;
using MimeKit.Text;

namespace Rempart.Protection.Quarantine;

/// <summary>
/// Makes untrusted message text safe to print on a terminal. A held message is hostile by assumption: an ANSI or
/// OSC escape in a subject could recolour, retitle or rewrite the administrator's terminal, and bidirectional
/// overrides can make text read differently from what it is (CVE-2021-42574, "Trojan Source").
/// </summary>
public static class SafeText
{
    private const char Escape = '\u001b';

    /// <summary>
    /// Removes escape sequences (CSI, OSC, DCS and two-character ones), control characters (C0 except newline and tab,
    /// DEL, C1) and bidirectional embedding/override/isolate characters; folds CR LF to LF, squeezes runs of blank
    /// lines, and cuts to <paramref name="maxLength"/> characters. With <paramref name="singleLine"/>, line breaks and
    /// tabs become spaces and runs of spaces one.
    /// </summary>
    public static string Clean(string? text, int maxLength, bool singleLine, out bool truncated)
    {
        truncated = false;
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var output = new StringBuilder(Math.Min(text.Length, maxLength + 16));
        var blankLines = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == Escape)
            {
                i = SkipEscape(text, i);
                continue;
            }

            if (c == '\r')
            {
                continue;
            }

            if (c is '\n' or '\t' && singleLine)
            {
                c = ' ';
            }

            if (c == '\n')
            {
                // Trailing spaces before a newline carry nothing.
                while (output.Length > 0 && output[^1] == ' ')
                {
                    output.Length--;
                }

                blankLines = output.Length == 0 || output[^1] == '\n' ? blankLines + 1 : 0;
                if (blankLines > 1 || output.Length == 0)
                {
                    continue;
                }
            }
            else if (c != '\t' && (char.IsControl(c) || IsBidiControl(c)))
            {
                continue;
            }
            else if (c == ' ' && singleLine && (output.Length == 0 || output[^1] == ' '))
            {
                continue;
            }
            else
            {
                blankLines = 0;
            }

            if (output.Length >= maxLength)
            {
                truncated = true;
                break;
            }

            // Never split a surrogate pair at the cut.
            if (char.IsHighSurrogate(c) && output.Length + 1 >= maxLength)
            {
                truncated = true;
                break;
            }

            output.Append(c);
        }

        return output.ToString().TrimEnd();
    }

    /// <summary>As <see cref="Clean(string?, int, bool, out bool)"/>, with "..." appended when cut.</summary>
    public static string Clean(string? text, int maxLength, bool singleLine = true)
    {
        var cleaned = Clean(text, maxLength, singleLine, out var truncated);
        return truncated ? cleaned + "..." : cleaned;
    }

    /// <summary>
    /// Turns HTML into readable text: tags dropped, block elements become line breaks, list items get a dash, links
    /// keep their target in brackets, script/style/head content is dropped, character references decoded. Reads at
    /// most <paramref name="maxInput"/> characters of HTML.
    /// </summary>
    public static string HtmlToText(string html, int maxInput = 1_000_000)
    {
        ArgumentNullException.ThrowIfNull(html);
        var source = html.Length > maxInput ? html[..maxInput] : html;
        var tokenizer = new HtmlTokenizer(new StringReader(source)) { DecodeCharacterReferences = true };
        var text = new StringBuilder();
        var hidden = 0;
        string? href = null;
        while (tokenizer.ReadNextToken(out var token))
        {
            switch (token)
            {
                case HtmlDataToken data when token.Kind == HtmlTokenKind.Data && hidden == 0:
                    AppendCollapsed(text, data.Data);
                    break;
                case HtmlTagToken tag:
                    if (tag.Id is HtmlTagId.Script or HtmlTagId.Style or HtmlTagId.Head or HtmlTagId.Title || tag.Name.Equals("template", StringComparison.OrdinalIgnoreCase))
                    {
                        if (!tag.IsEmptyElement)
                        {
                            hidden = Math.Max(0, hidden + (tag.IsEndTag ? -1 : 1));
                        }

                        break;
                    }

                    if (hidden > 0)
                    {
                        break;
                    }

                    if (tag.Id == HtmlTagId.A)
                    {
                        if (!tag.IsEndTag)
                        {
                            href = tag.Attributes.FirstOrDefault(a => a.Id == HtmlAttributeId.Href)?.Value;
                        }
                        else if (!string.IsNullOrWhiteSpace(href))
                        {
                            text.Append(" [").Append(href.Trim()).Append(']');
                            href = null;
                        }
                    }
                    else if (!tag.IsEndTag && (tag.Id == HtmlTagId.Image || tag.Name.Equals("img", StringComparison.OrdinalIgnoreCase)))
                    {
                        var alt = tag.Attributes.FirstOrDefault(a => a.Id == HtmlAttributeId.Alt)?.Value;
                        if (!string.IsNullOrWhiteSpace(alt))
                        {
                            text.Append("[image: ").Append(alt.Trim()).Append(']');
                        }
                    }
                    else if (tag.Id == HtmlTagId.LI && !tag.IsEndTag)
                    {
                        NewLine(text);
                        text.Append("- ");
                    }
                    else if (IsBlock(tag.Id))
                    {
                        NewLine(text);
                        if (tag.Id is HtmlTagId.P or HtmlTagId.Table or HtmlTagId.H1 or HtmlTagId.H2 or HtmlTagId.H3 && tag.IsEndTag)
                        {
                            text.Append('\n');
                        }
                    }
                    else if (tag.Id is HtmlTagId.TD or HtmlTagId.TH && !tag.IsEndTag && text.Length > 0 && text[^1] != '\n')
                    {
                        text.Append('\t');
                    }

                    break;
            }
        }

        return text.ToString().Trim();
    }

    private static bool IsBidiControl(char c) => c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069';

    private static bool IsBlock(HtmlTagId id) => id is HtmlTagId.Br or HtmlTagId.P or HtmlTagId.Div or HtmlTagId.TR or HtmlTagId.Table
        or HtmlTagId.H1 or HtmlTagId.H2 or HtmlTagId.H3 or HtmlTagId.H4 or HtmlTagId.H5 or HtmlTagId.H6 or HtmlTagId.UL or HtmlTagId.OL
        or HtmlTagId.BlockQuote or HtmlTagId.Pre or HtmlTagId.HR or HtmlTagId.Section or HtmlTagId.Article or HtmlTagId.Header or HtmlTagId.Footer;

    /// <summary>HTML collapses white space; so does its text form.</summary>
    private static void AppendCollapsed(StringBuilder text, string data)
    {
        foreach (var c in data)
        {
            if (char.IsWhiteSpace(c))
            {
                if (text.Length > 0 && text[^1] is not (' ' or '\n' or '\t'))
                {
                    text.Append(' ');
                }
            }
            else
            {
                text.Append(c);
            }
        }
    }

    private static void NewLine(StringBuilder text)
    {
        while (text.Length > 0 && text[^1] == ' ')
        {
            text.Length--;
        }

        if (text.Length > 0 && text[^1] != '\n')
        {
            text.Append('\n');
        }
    }

    /// <summary>Returns the index of the last character of the escape sequence starting at <paramref name="start"/>.</summary>
    private static int SkipEscape(string text, int start)
    {
        if (start + 1 >= text.Length)
        {
            return start;
        }

        var kind = text[start + 1];
        switch (kind)
        {
            case '[':
                // CSI (ECMA-48 section 5.4): parameter and intermediate bytes, then one final byte 0x40-0x7E.
                for (var i = start + 2; i < text.Length; i++)
                {
                    if (text[i] is >= '@' and <= '~')
                    {
                        return i;
                    }

                    if (text[i] is < ' ' or > '?')
                    {
                        // Malformed: drop what was read, keep the rest visible (but cleaned).
                        return i - 1;
                    }
                }

                return text.Length - 1;
            case ']' or 'P' or 'X' or '^' or '_':
                // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
                for (var i = start + 2; i < text.Length; i++)
                {
                    if (text[i] == '\u0007')
                    {
                        return i;
                    }

                    if (text[i] == Escape && i + 1 < text.Length && text[i + 1] == '\\')
                    {
                        return i + 1;
                    }
                }

                return text.Length - 1;
            default:
                // Two-character sequences (ESC c resets the terminal, ESC 7/8 move the cursor...).
                return start + 1;
        }
    }
}
