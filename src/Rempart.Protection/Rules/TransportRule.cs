using System.Text.RegularExpressions;

namespace Rempart.Protection.Rules;

/// <summary>
/// One parsed mail-flow rule (docs/protection/rules.md). Built by <see cref="RuleParser"/> from the JSON the store
/// keeps; immutable, so one instance serves every SMTP session at once.
/// </summary>
public sealed class TransportRule
{
    public required string Name { get; init; }

    /// <summary>Lower runs first; ties are broken by name.</summary>
    public int Priority { get; init; }

    public bool Enabled { get; init; } = true;

    /// <summary>Every group must match (an empty list matches every message).</summary>
    public IReadOnlyList<RuleConditionGroup> Conditions { get; init; } = [];

    /// <summary>"Except if": the rule does not apply when any one group matches.</summary>
    public IReadOnlyList<RuleConditionGroup> Exceptions { get; init; } = [];

    public required RuleActions Actions { get; init; }

    /// <summary>Rules after this one are not evaluated when it matches.</summary>
    public bool StopProcessing => Actions.StopProcessing;
}

/// <summary>One object of a rule's <c>conditions</c> (or <c>exceptIf</c>) list: each condition set must match.</summary>
public sealed class RuleConditionGroup
{
    /// <summary>Where the group came from, for explanations ("conditions[1]").</summary>
    public required string Path { get; init; }

    public IReadOnlyList<AddressPattern>? SenderMatches { get; init; }

    public IReadOnlyList<AddressPattern>? RecipientMatches { get; init; }

    public IReadOnlyList<string>? SenderDomainIs { get; init; }

    public IReadOnlyList<string>? RecipientDomainIs { get; init; }

    public RuleScope? FromScope { get; init; }

    public RuleScope? ToScope { get; init; }

    public HeaderPattern? HeaderMatches { get; init; }

    public IReadOnlyList<Regex>? SubjectMatches { get; init; }

    public IReadOnlyList<Regex>? BodyMatches { get; init; }

    public IReadOnlyList<Regex>? SubjectOrBodyMatches { get; init; }

    public IReadOnlyList<string>? AttachmentTypeIs { get; init; }

    public IReadOnlyList<AddressPattern>? AttachmentNameMatches { get; init; }

    public long? SizeOver { get; init; }

    public int? SclAtLeast { get; init; }
}

/// <summary>Inside or outside the organisation (the served domains).</summary>
public enum RuleScope
{
    Inside,
    Outside,
}

/// <summary>A header name and a regular expression its value must match.</summary>
public sealed record HeaderPattern(string Name, Regex Pattern);

/// <summary>
/// A wildcard pattern (<c>*</c> any run, <c>?</c> one character, whole value, case-insensitive) or, written
/// <c>/regex/</c>, a regular expression searched case-insensitively. Used for addresses and attachment names.
/// </summary>
public sealed class AddressPattern
{
    public AddressPattern(string source, Regex regex)
    {
        Source = source;
        Regex = regex;
    }

    /// <summary>The pattern as the administrator wrote it.</summary>
    public string Source { get; }

    public Regex Regex { get; }

    public override string ToString() => Source;
}

/// <summary>What a matching rule does. Lists are empty and values null when the rule does not set them.</summary>
public sealed class RuleActions
{
    public RuleReject? Reject { get; init; }

    /// <summary>Non-null when the rule quarantines; the text is the reason shown to administrators.</summary>
    public string? Quarantine { get; init; }

    public IReadOnlyList<string> RedirectTo { get; init; } = [];

    public IReadOnlyList<string> AddRecipients { get; init; } = [];

    public IReadOnlyList<string> Bcc { get; init; } = [];

    public IReadOnlyList<KeyValuePair<string, string>> AddHeaders { get; init; } = [];

    public IReadOnlyList<string> RemoveHeaders { get; init; } = [];

    public string? PrefixSubject { get; init; }

    public string? Disclaimer { get; init; }

    public string? RouteVia { get; init; }

    public int? SetScl { get; init; }

    public bool StopProcessing { get; init; }
}

/// <summary>An SMTP refusal: reply code, enhanced status code (RFC 3463) and text.</summary>
public sealed record RuleReject(int Code, string Enhanced, string Text)
{
    public override string ToString() => $"{Code} {Enhanced} {Text}";
}
