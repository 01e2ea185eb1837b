using System.Net;
using System.Text.RegularExpressions;
using MimeKit;

namespace Rempart.Antispam;

/// <summary>
/// The heuristic rules: each a name, a score (SpamAssassin-like points) and a description. Scores are deliberately
/// modest: no single heuristic moves a message past the default Junk level (SCL 5) on its own; it takes several, or
/// the Bayes classifier agreeing. Only GTUBE decides alone.
/// </summary>
internal static partial class SpamRules
{
    /// <summary>The Generic Test for Unsolicited Bulk Email (https://spamassassin.apache.org/gtube/).</summary>
    public const string GtubeString = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    public static readonly byte[] GtubeBytes = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"u8.ToArray();

    public static readonly SpamRuleHit Gtube = new("GTUBE", 1000, "GTUBE test string (always spam)");

    private static readonly HashSet<string> s_shorteners = new(StringComparer.OrdinalIgnoreCase)
    {
        "bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly", "shorturl.at",
        "tiny.cc", "rb.gy", "bl.ink", "t.ly", "s.id", "v.gd", "shorte.st", "adf.ly", "x.co", "lnkd.in",
    };

    private static readonly string[] s_moneyPhrases =
    [
        "million dollars", "us$", "usd", "$$$", "wire transfer", "western union", "moneygram", "bitcoin", "inheritance",
        "lottery", "you have won", "you've won", "cash prize", "100% free", "earn money", "make money", "extra income",
        "credit card", "no credit check", "lowest price", "investment opportunity", "beneficiary", "next of kin",
        "bank account", "risk free", "risk-free", "double your", "cash bonus", "work from home", "fund transfer",
    ];

    private static readonly string[] s_urgencyPhrases =
    [
        "act now", "urgent", "immediately", "verify your account", "will be suspended", "has been suspended",
        "within 24 hours", "within 48 hours", "limited time", "expires today", "click here", "confirm your identity",
        "update your payment", "unusual activity", "final notice", "don't miss", "order now", "last chance",
        "account will be closed", "reply asap", "respond immediately", "verify your identity", "unlock your account",
    ];

    public static List<SpamRuleHit> Evaluate(MimeMessage message, MessageContent content)
    {
        var hits = new List<SpamRuleHit>();
        var headers = message.Headers;

        // RFC 5322 section 3.6: Date and (SHOULD) Message-ID; bulk tools that forge mail often leave them out.
        if (!headers.Contains(HeaderId.Date))
        {
            hits.Add(new("MISSING_DATE", 1.2, "No Date header (RFC 5322 requires one)"));
        }

        if (!headers.Contains(HeaderId.MessageId))
        {
            hits.Add(new("MISSING_MID", 0.7, "No Message-ID header"));
        }

        var subjectLetters = content.Subject.Count(char.IsLetter);
        if (subjectLetters >= 10 && !content.Subject.Any(char.IsLower))
        {
            hits.Add(new("SUBJ_ALL_CAPS", 1.3, "Subject is all capitals"));
        }

        if (content.Subject.Contains("!!", StringComparison.Ordinal) || content.Subject.Contains("$$", StringComparison.Ordinal))
        {
            hits.Add(new("SUBJ_EXCESS_PUNCT", 0.6, "Subject has repeated ! or $"));
        }

        var visibleText = content.Texts.Sum(t => t.Count(char.IsLetterOrDigit));
        if (content.HasHtml && !content.HasPlainText)
        {
            if (visibleText < 200)
            {
                hits.Add(new("HTML_ONLY_LITTLE_TEXT", content.ImageCount > 0 ? 1.8 : 1.2, "HTML only, with little text" + (content.ImageCount > 0 ? " and images" : "")));
            }
            else
            {
                hits.Add(new("HTML_ONLY", 0.3, "HTML only, no plain text alternative"));
            }
        }

        if (content.Htmls.Any(HasInvisibleText))
        {
            hits.Add(new("HTML_INVISIBLE_TEXT", 1.0, "HTML text hidden from the reader (display:none, visibility:hidden, font-size:0)"));
        }

        var hosts = content.Urls.Select(MessageContent.HostOf).OfType<string>().ToList();
        var distinctUrls = content.Urls.Distinct(StringComparer.OrdinalIgnoreCase).Count();
        if (distinctUrls > 25)
        {
            hits.Add(new("MANY_URLS", 0.5, "More than 25 distinct links"));
        }

        if (hosts.Any(s_shorteners.Contains))
        {
            hits.Add(new("URL_SHORTENER", 1.1, "Link through a URL shortener"));
        }

        if (hosts.Any(h => IPAddress.TryParse(h.Trim('[', ']'), out _)))
        {
            hits.Add(new("URL_IP_LITERAL", 1.6, "Link to a bare IP address"));
        }

        if (content.Links.Any(IsMismatchedLink))
        {
            hits.Add(new("LINK_HOST_MISMATCH", 2.4, "Link text shows one site, the link goes to another"));
        }

        if (FromNameHasOtherAddress(message))
        {
            hits.Add(new("FROM_NAME_HAS_ADDRESS", 1.5, "From display name holds a different address"));
        }

        if (UndisclosedRecipients(message))
        {
            hits.Add(new("TO_UNDISCLOSED", 0.8, "No To header, or undisclosed recipients"));
        }

        if (content.AsciiCharsetWithManyNonAscii)
        {
            hits.Add(new("CHARSET_MISMATCH", 1.0, "Declared US-ASCII, mostly 8-bit bytes"));
        }

        var lower = (content.Subject + "\n" + string.Join('\n', content.Texts)).ToLowerInvariant();
        var money = s_moneyPhrases.Count(p => lower.Contains(p, StringComparison.Ordinal));
        if (money >= 2)
        {
            hits.Add(new("MONEY_PHRASES", money >= 4 ? 1.6 : 0.9, "Money phrases (" + money + ")"));
        }

        var urgency = s_urgencyPhrases.Count(p => lower.Contains(p, StringComparison.Ordinal));
        if (urgency >= 2)
        {
            hits.Add(new("URGENCY_PHRASES", urgency >= 4 ? 1.4 : 0.8, "Urgency phrases (" + urgency + ")"));
        }

        return hits;
    }

    private static bool HasInvisibleText(string html)
    {
        try
        {
            return InvisibleText().IsMatch(html);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    /// <summary>Link text that names a site (a URL or a dotted host name) other than the one the link goes to.</summary>
    private static bool IsMismatchedLink(HtmlLink link)
    {
        if (!link.Href.StartsWith("http", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Only text that is itself an address ("https://bank.example/login", "www.bank.example", "bank.example"):
        // "file.pdf" inside a sentence is not a claim about where the link goes.
        var text = link.Text.Trim();
        var shown = HostInText().Match(text);
        var looksLikeAddress = shown.Success && (shown.Index == 0 && (shown.Length == text.Length || text[shown.Length] == '/')
            || text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        if (!looksLikeAddress)
        {
            return false;
        }

        var shownHost = MessageContent.HostOf(shown.Value);
        var realHost = MessageContent.HostOf(link.Href);
        if (shownHost is null || realHost is null)
        {
            return false;
        }

        return !string.Equals(MessageContent.RegistrableDomain(shownHost), MessageContent.RegistrableDomain(realHost), StringComparison.OrdinalIgnoreCase);
    }

    private static bool FromNameHasOtherAddress(MimeMessage message)
    {
        foreach (var from in message.From.Mailboxes)
        {
            if (from.Name is { Length: > 0 } name && EmailInText().Match(name) is { Success: true } m
                && !string.Equals(m.Value, from.Address, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool UndisclosedRecipients(MimeMessage message)
    {
        if (!message.Headers.Contains(HeaderId.To))
        {
            return true;
        }

        var to = message.Headers[HeaderId.To] ?? "";
        return to.Contains("undisclosed", StringComparison.OrdinalIgnoreCase) || message.To.Mailboxes.All(m => string.IsNullOrEmpty(m.Address));
    }

    [GeneratedRegex(@"style\s*=\s*[""'][^""'>]{0,300}(display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*[01](px|pt)?\s*[;""'])[^>]{0,300}>[^<]{30}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex InvisibleText();

    [GeneratedRegex(@"(?:https?://)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex HostInText();

    [GeneratedRegex(@"[a-z0-9._%+-]{1,64}@[a-z0-9.-]{1,253}\.[a-z]{2,24}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex EmailInText();
}
