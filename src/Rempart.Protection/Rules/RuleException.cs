namespace Rempart.Protection.Rules;

/// <summary>
/// A rule that cannot be used. <see cref="Exception.Message"/> names the rule and the JSON path of every problem,
/// one per line ("rule 'x': conditions[1].subjectMatches: invalid regular expression ...").
/// </summary>
public sealed class RuleException : Exception
{
    public RuleException()
        : this("invalid rule")
    {
    }

    public RuleException(string message)
        : base(message) => Errors = [message];

    public RuleException(string message, Exception inner)
        : base(message, inner) => Errors = [message];

    public RuleException(IReadOnlyList<string> errors)
        : base(string.Join(Environment.NewLine, errors)) => Errors = errors;

    /// <summary>Each problem on its own, already prefixed with the rule name.</summary>
    public IReadOnlyList<string> Errors { get; }
}
