using System.Globalization;
using System.Text;

namespace Rempart.Antispam;

/// <summary>One rule that matched, with the points it added (negative points make a message look less like spam).</summary>
public sealed record SpamRuleHit(string Name, double Score, string Description);

/// <summary>
/// The anti-spam verdict of one message. <paramref name="Scl"/> is the Exchange-like spam confidence level: 0-9, or
/// -1 when the message bypassed filtering (anti-spam off, or an authenticated internal sender the pipeline trusts).
/// </summary>
/// <param name="Score">Sum of the rule scores and the Bayes contribution (SpamAssassin-like points).</param>
/// <param name="Gtube">The GTUBE test string was found (SCL 9 whatever the other rules say).</param>
/// <param name="BayesProbability">Spam probability of the statistical classifier; null when the model is too small.</param>
public sealed record SpamAnalysis(double Score, int Scl, bool Gtube, double? BayesProbability, IReadOnlyList<SpamRuleHit> Hits)
{
    /// <summary>The verdict of a message that was not filtered (SCL -1).</summary>
    public static SpamAnalysis Bypass { get; } = new(0, -1, false, null, []);
}

/// <summary>What the thresholds of <see cref="Rempart.Common.Configuration.SpamOptions"/> say to do with a message.</summary>
public enum SpamAction
{
    Deliver,
    Junk,
    Quarantine,
    Reject,
}

/// <summary>Formatting of the verdict for headers and logs.</summary>
public static class SpamHeaders
{
    /// <summary>Name of the header the pipeline adds with <see cref="SpamEngine.SpamHeaderValue"/>.</summary>
    public const string HeaderName = "X-Rempart-Spam";

    /// <summary>Formats <c>scl=7; score=8.3; bayes=0.99; rules=GTUBE,SUBJ_ALL_CAPS</c> (bayes omitted when unknown).</summary>
    public static string Format(SpamAnalysis analysis)
    {
        ArgumentNullException.ThrowIfNull(analysis);
        var sb = new StringBuilder();
        sb.Append("scl=").Append(analysis.Scl.ToString(CultureInfo.InvariantCulture));
        sb.Append("; score=").Append(analysis.Score.ToString("0.0", CultureInfo.InvariantCulture));
        if (analysis.BayesProbability is { } p)
        {
            sb.Append("; bayes=").Append(p.ToString("0.00", CultureInfo.InvariantCulture));
        }

        sb.Append("; rules=").Append(string.Join(',', analysis.Hits.Select(h => h.Name)));
        return sb.ToString();
    }
}
