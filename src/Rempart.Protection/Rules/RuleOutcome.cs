namespace Rempart.Protection.Rules;

/// <summary>
/// What the matching rules decided, merged in rule order. Single-valued decisions (reject, quarantine reason, route,
/// spam score) come from the first rule that set them; lists accumulate without duplicates.
/// </summary>
public sealed class RuleOutcome
{
    private readonly List<string> hits = [];
    private readonly List<RuleEvaluation> evaluations = [];
    private readonly List<string> redirectTo = [];
    private readonly List<string> addRecipients = [];
    private readonly List<string> bcc = [];
    private readonly List<KeyValuePair<string, string>> addHeaders = [];
    private readonly List<string> removeHeaders = [];
    private readonly List<string> prefixes = [];
    private readonly List<string> disclaimers = [];

    /// <summary>Names of the rules that matched, in evaluation order.</summary>
    public IReadOnlyList<string> Hits => hits;

    /// <summary>Every rule looked at, with its result (for <c>rempart rule test</c> and the message trace).</summary>
    public IReadOnlyList<RuleEvaluation> Evaluations => evaluations;

    /// <summary>Null, or the refusal to give at end of DATA (default 550 5.7.1 with the administrator's text).</summary>
    public RuleReject? Reject { get; private set; }

    public bool Quarantine { get; private set; }

    public string? QuarantineReason { get; private set; }

    /// <summary>Non-empty: these replace every envelope recipient.</summary>
    public IReadOnlyList<string> RedirectTo => redirectTo;

    public IReadOnlyList<string> AddRecipients => addRecipients;

    /// <summary>Added as envelope recipients only (no header names them).</summary>
    public IReadOnlyList<string> Bcc => bcc;

    public IReadOnlyList<KeyValuePair<string, string>> AddHeaders => addHeaders;

    /// <summary>Header names to remove (applied before <see cref="AddHeaders"/>).</summary>
    public IReadOnlyList<string> RemoveHeaders => removeHeaders;

    /// <summary>The prefixes of the matching rules in order, joined; null when none.</summary>
    public string? SubjectPrefix => prefixes.Count == 0 ? null : string.Concat(prefixes);

    /// <summary>Plain text (line breaks as "\n"); the rewriter escapes it for HTML bodies. Null when none.</summary>
    public string? Disclaimer => disclaimers.Count == 0 ? null : string.Join("\n\n", disclaimers);

    /// <summary>Name of the outbound route (RempartOptions.Routes) to send through, or null for normal routing.</summary>
    public string? RouteName { get; private set; }

    /// <summary>New spam confidence level, or null to keep it.</summary>
    public int? SetScl { get; private set; }

    /// <summary>True when the message needs rewriting (headers, subject or disclaimer).</summary>
    public bool ChangesContent => addHeaders.Count > 0 || removeHeaders.Count > 0 || prefixes.Count > 0 || disclaimers.Count > 0;

    /// <summary>True when no rule matched.</summary>
    public bool IsEmpty => hits.Count == 0;

    internal void Record(RuleEvaluation evaluation) => evaluations.Add(evaluation);

    internal void Apply(TransportRule rule)
    {
        hits.Add(rule.Name);
        var a = rule.Actions;
        if (a.Reject is not null)
        {
            Reject ??= a.Reject;
        }

        if (a.Quarantine is not null && !Quarantine)
        {
            Quarantine = true;
            QuarantineReason = a.Quarantine.Length > 0 ? a.Quarantine : $"mail-flow rule '{rule.Name}'";
        }

        AddDistinct(redirectTo, a.RedirectTo);
        AddDistinct(addRecipients, a.AddRecipients);
        AddDistinct(bcc, a.Bcc);
        addHeaders.AddRange(a.AddHeaders);
        foreach (var h in a.RemoveHeaders)
        {
            if (!removeHeaders.Contains(h, StringComparer.OrdinalIgnoreCase))
            {
                removeHeaders.Add(h);
            }
        }

        if (a.PrefixSubject is { Length: > 0 } p && !prefixes.Contains(p, StringComparer.Ordinal))
        {
            prefixes.Add(p);
        }

        if (a.Disclaimer is { } d && !disclaimers.Contains(d, StringComparer.Ordinal))
        {
            disclaimers.Add(d);
        }

        RouteName ??= a.RouteVia;
        SetScl ??= a.SetScl;
    }

    private static void AddDistinct(List<string> into, IReadOnlyList<string> values)
    {
        foreach (var v in values)
        {
            if (!into.Contains(v, StringComparer.OrdinalIgnoreCase))
            {
                into.Add(v);
            }
        }
    }
}

/// <summary>How one rule fared: <paramref name="Detail"/> says which condition failed or which exception applied.</summary>
public sealed record RuleEvaluation(string Rule, RuleResult Result, string? Detail);

public enum RuleResult
{
    Matched,
    NotMatched,

    /// <summary>The conditions matched but an "except if" group did too.</summary>
    Excepted,
    Disabled,

    /// <summary>An earlier rule stopped processing (or rejected the message).</summary>
    NotReached,
}
