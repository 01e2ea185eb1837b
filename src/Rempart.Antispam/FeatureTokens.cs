using System.Globalization;
using System.Text.RegularExpressions;
using MimeKit;

namespace Rempart.Antispam;

/// <summary>
/// Header-shape tokens for the Bayes classifier only (the logistic model does not get them: in cross-validation they
/// helped Bayes and cost the logistic model ham, bench/results/2026-12-03-spam-s8.md): the number of Received hops,
/// whether Return-Path and From agree, the shapes of Message-ID, Date and the addresses, and where the message entered
/// the chain of Received headers. Every value read is truncated, and at most 30 Received headers are examined.
/// </summary>
internal static partial class FeatureTokens
{
    /// <summary>
    /// Header shape: the number of Received hops, whether the Return-Path and From domains agree, the shape of the
    /// Message-ID and Date (letters as <c>a</c>, digits as <c>9</c>), the Date's time zone, and the shapes of the
    /// From and To addresses.
    /// </summary>
    public static void Headers(MimeMessage message, Tokenizer.Sink sink)
    {
        var headers = message.Headers;
        var received = 0;
        foreach (var h in headers)
        {
            if (h.Id == HeaderId.Received)
            {
                received++;
            }
        }

        sink.Add("hs:rcvd:" + Math.Min(received, 10).ToString(CultureInfo.InvariantCulture));
        var fromDomain = message.From.Mailboxes.FirstOrDefault()?.Domain?.ToLowerInvariant();
        var returnPath = headers[HeaderId.ReturnPath];
        if (returnPath is null)
        {
            sink.Add("hs:rp:none");
        }
        else
        {
            var rp = returnPath.Trim().Trim('<', '>').ToLowerInvariant();
            var at = rp.LastIndexOf('@');
            var rpDomain = at >= 0 ? rp[(at + 1)..] : "";
            sink.Add(rpDomain.Length == 0 ? "hs:rp:empty"
                : fromDomain is null ? "hs:rp:nofrom"
                : rpDomain == fromDomain ? "hs:rp:same"
                : MessageContent.RegistrableDomain(rpDomain) == MessageContent.RegistrableDomain(fromDomain) ? "hs:rp:samesite"
                : "hs:rp:other");
        }

        if (headers[HeaderId.MessageId] is { } mid)
        {
            sink.Add("hs:mid:", Shape(Truncate(mid.Trim(), 80)));
        }

        if (headers[HeaderId.Date] is { } date)
        {
            date = Truncate(date.Trim(), 80);
            sink.Add("hs:date:", Shape(date));
            var zone = DateZone().Match(date);
            sink.Add("hs:tz:", zone.Success ? zone.Value.Trim().ToLowerInvariant() : "none");
        }

        foreach (var from in message.From.Mailboxes.Take(1))
        {
            var local = from.LocalPart ?? "";
            sink.Add("hs:fromlocal:", Shape(Truncate(local, 40)));
        }

        foreach (var to in message.To.Mailboxes.Take(1))
        {
            sink.Add("hs:tolocal:", Shape(Truncate(to.LocalPart ?? "", 40)));
            sink.Add(string.IsNullOrEmpty(to.Name) ? "hs:toname:none" : "hs:toname:yes");
        }
    }

    /// <summary>
    /// Where the message entered the chain: the host names and the IPv4 /24 and /16 networks of the earliest
    /// <see cref="OriginHops"/> Received headers (the last ones in the header, <c>rcvdo:</c>, <c>ipo:</c>). The
    /// word tokens read the latest hops, which are the same for every message a mailing list forwards; spam relayed by
    /// a list still shows where it came from at the bottom.
    /// </summary>
    public static void Origin(MimeMessage message, Tokenizer.Sink sink)
    {
        var received = new List<string>();
        foreach (var header in message.Headers)
        {
            if (header.Id == HeaderId.Received && received.Count < 30)
            {
                received.Add(Truncate(header.Value, 500));
            }
        }

        var fromSite = message.From.Mailboxes.FirstOrDefault()?.Domain is { Length: > 0 } fd ? MessageContent.RegistrableDomain(fd.ToLowerInvariant()) : null;
        var fromSeen = false;
        for (var i = Math.Max(0, received.Count - OriginHops); i < received.Count; i++)
        {
            try
            {
                foreach (Match m in ReceivedFrom().Matches(received[i]))
                {
                    var host = m.Groups["host"].Value.Trim('(', ')', '[', ']', ';').ToLowerInvariant();
                    if (host.Length > 0 && !char.IsDigit(host[^1]))
                    {
                        sink.Add("rcvdo:", host);
                        var site = MessageContent.RegistrableDomain(host);
                        sink.Add("rcvdo:d:", site);
                        fromSeen |= site == fromSite;
                    }
                }

                foreach (Match m in Ipv4().Matches(received[i]))
                {
                    sink.Add("ipo:", m.Groups["net24"].Value);
                    sink.Add("ipo:", m.Groups["net16"].Value);
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // The hops read so far count.
            }
        }

        sink.Add(fromSite is null ? "hs:origin:nofrom" : fromSeen ? "hs:origin:from-site" : "hs:origin:other-site");
    }

    /// <summary>Earliest Received headers read by <see cref="Origin"/>.</summary>
    public const int OriginHops = 2;

    /// <summary>Letters become <c>a</c> (<c>A</c> upper case), digits <c>9</c>, runs collapse, the rest stays.</summary>
    internal static string Shape(string s)
    {
        var sb = new System.Text.StringBuilder(s.Length);
        var last = '\0';
        foreach (var c in s)
        {
            var k = char.IsDigit(c) ? '9' : char.IsLetter(c) ? (char.IsUpper(c) ? 'A' : 'a') : c;
            if (k != last || k is not ('9' or 'a' or 'A'))
            {
                sb.Append(k);
            }

            last = k;
        }

        return sb.ToString();
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    [GeneratedRegex(@"\bfrom\s+(?<host>[^\s;]{1,255})", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ReceivedFrom();

    [GeneratedRegex(@"\[(?<net24>(?<net16>\d{1,3}\.\d{1,3})\.\d{1,3})\.\d{1,3}\]", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Ipv4();

    [GeneratedRegex(@"[+-]\d{4}|\b[A-Z]{2,5}\s*$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex DateZone();
}
