using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Rempart.Protection.Rules;

/// <summary>
/// Evaluates a set of mail-flow rules against one message: rules in priority order, each applying when all its
/// condition groups match and none of its "except if" groups does. Never throws on message content: a pattern that
/// runs past <see cref="RuleParser.MatchTimeout"/> counts as no match and is logged.
/// </summary>
public sealed class RuleEngine
{
    private readonly TransportRule[] rules;
    private readonly ILogger logger;

    public RuleEngine(IReadOnlyList<TransportRule> rules, ILogger logger)
    {
        this.rules = [.. rules.OrderBy(r => r.Priority).ThenBy(r => r.Name, StringComparer.OrdinalIgnoreCase)];
        this.logger = logger;
    }

    /// <summary>An engine with no rules (every outcome is empty).</summary>
    public static RuleEngine Empty { get; } = new([], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    /// <summary>The rules in evaluation order.</summary>
    public IReadOnlyList<TransportRule> Rules => rules;

    public RuleOutcome Evaluate(RuleMessage m)
    {
        var outcome = new RuleOutcome();
        var scl = m.Scl;
        var stopped = false;
        foreach (var rule in rules)
        {
            if (stopped)
            {
                outcome.Record(new(rule.Name, RuleResult.NotReached, null));
                continue;
            }

            if (!rule.Enabled)
            {
                outcome.Record(new(rule.Name, RuleResult.Disabled, null));
                continue;
            }

            var matcher = new Matcher(this, rule, m, scl);
            string? why = null;
            foreach (var g in rule.Conditions)
            {
                if (!matcher.Matches(g, out why))
                {
                    break;
                }
            }

            if (why is not null)
            {
                outcome.Record(new(rule.Name, RuleResult.NotMatched, why));
                continue;
            }

            var exception = rule.Exceptions.FirstOrDefault(g => matcher.Matches(g, out _));
            if (exception is not null)
            {
                outcome.Record(new(rule.Name, RuleResult.Excepted, exception.Path + " matched"));
                continue;
            }

            outcome.Record(new(rule.Name, RuleResult.Matched, null));
            outcome.Apply(rule);

            // A later rule's "sclAtLeast" sees the score an earlier rule set.
            scl = rule.Actions.SetScl ?? scl;
            stopped = rule.StopProcessing || rule.Actions.Reject is not null;
        }

        return outcome;
    }

    private bool SafeMatch(Regex regex, string input, TransportRule rule, string path)
    {
        try
        {
            return regex.IsMatch(input);
        }
        catch (RegexMatchTimeoutException)
        {
            RulesLog.RegexTimeout(logger, rule.Name, path, regex.MatchTimeout.TotalMilliseconds);
            return false;
        }
    }

    private sealed class Matcher(RuleEngine engine, TransportRule rule, RuleMessage m, int scl)
    {
        /// <summary>True when every condition of the group holds; otherwise <paramref name="why"/> names the first that did not.</summary>
        public bool Matches(RuleConditionGroup g, out string? why)
        {
            var p = g.Path;
            why = null;
            if (g.SenderMatches is { } sm && !Any(sm, SenderAddresses(), p + ".senderMatches"))
            {
                why = p + ".senderMatches";
            }
            else if (g.RecipientMatches is { } rm && !Any(rm, m.Recipients, p + ".recipientMatches"))
            {
                why = p + ".recipientMatches";
            }
            else if (g.SenderDomainIs is { } sd && !SenderAddresses().Any(a => InDomains(a, sd)))
            {
                why = p + ".senderDomainIs";
            }
            else if (g.RecipientDomainIs is { } rd && !m.Recipients.Any(a => InDomains(a, rd)))
            {
                why = p + ".recipientDomainIs";
            }
            else if (g.FromScope is { } fs && (fs == RuleScope.Inside) != IsInside(m.Sender))
            {
                why = p + ".fromScope";
            }
            else if (g.ToScope is { } ts && !m.Recipients.Any(r => (ts == RuleScope.Inside) == IsInside(r)))
            {
                why = p + ".toScope";
            }
            else if (g.HeaderMatches is { } hm && !HeaderMatches(hm, p + ".headerMatches"))
            {
                why = p + ".headerMatches";
            }
            else if (g.SubjectMatches is { } sub && !AnyRegex(sub, m.Subject, p + ".subjectMatches"))
            {
                why = p + ".subjectMatches";
            }
            else if (g.BodyMatches is { } body && !AnyRegex(body, m.BodyText, p + ".bodyMatches"))
            {
                why = p + ".bodyMatches";
            }
            else if (g.SubjectOrBodyMatches is { } sb && !AnyRegex(sb, m.Subject, p + ".subjectOrBodyMatches") && !AnyRegex(sb, m.BodyText, p + ".subjectOrBodyMatches"))
            {
                why = p + ".subjectOrBodyMatches";
            }
            else if (g.AttachmentTypeIs is { } at && !m.Attachments.Any(a => at.Contains(a.DetectedType, StringComparer.OrdinalIgnoreCase)))
            {
                why = p + ".attachmentTypeIs";
            }
            else if (g.AttachmentNameMatches is { } an && !Any(an, m.Attachments.Where(a => a.FileName is not null).Select(a => a.FileName!), p + ".attachmentNameMatches"))
            {
                why = p + ".attachmentNameMatches";
            }
            else if (g.SizeOver is { } size && m.Size <= size)
            {
                why = p + ".sizeOver";
            }
            else if (g.SclAtLeast is { } min && scl < min)
            {
                why = p + ".sclAtLeast";
            }

            if (why is not null)
            {
                why += " did not match";
                return false;
            }

            return true;
        }

        private IEnumerable<string> SenderAddresses()
        {
            if (m.Sender.Length > 0)
            {
                yield return m.Sender;
            }

            if (m.FromHeader is { Length: > 0 } from && !from.Equals(m.Sender, StringComparison.OrdinalIgnoreCase))
            {
                yield return from;
            }
        }

        /// <summary>The null sender (a bounce) belongs to no organisation: it counts as outside.</summary>
        private bool IsInside(string address) => address.Length > 0 && m.IsInternal(address);

        private bool Any(IReadOnlyList<AddressPattern> patterns, IEnumerable<string> values, string path)
        {
            foreach (var v in values)
            {
                foreach (var pattern in patterns)
                {
                    if (engine.SafeMatch(pattern.Regex, v, rule, path))
                    {
                        return true;
                    }
                }
            }

            return false;
        }

        private bool AnyRegex(IReadOnlyList<Regex> patterns, string value, string path)
        {
            foreach (var r in patterns)
            {
                if (engine.SafeMatch(r, value, rule, path))
                {
                    return true;
                }
            }

            return false;
        }

        private bool HeaderMatches(HeaderPattern hm, string path)
        {
            foreach (var (name, value) in m.Headers)
            {
                if (name.Equals(hm.Name, StringComparison.OrdinalIgnoreCase) && engine.SafeMatch(hm.Pattern, value, rule, path))
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>A listed domain matches itself and its subdomains.</summary>
        private static bool InDomains(string address, IReadOnlyList<string> domains)
        {
            var at = address.LastIndexOf('@');
            if (at < 0)
            {
                return false;
            }

            var domain = address[(at + 1)..].TrimEnd('.').TrimEnd('>');
            foreach (var d in domains)
            {
                if (domain.Equals(d, StringComparison.OrdinalIgnoreCase)
                    || (domain.Length > d.Length && domain.EndsWith(d, StringComparison.OrdinalIgnoreCase) && domain[domain.Length - d.Length - 1] == '.'))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
