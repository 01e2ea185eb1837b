namespace Rempart.Protection.Pipeline;

/// <summary>One finding of one stage: what it saw and how much it adds to the spam score.</summary>
/// <param name="Stage">"connect", "mail", "rcpt", "auth", "antivirus", "spam", "rules".</param>
public sealed record Evidence(string Stage, string Name, double Score, string Detail);

/// <summary>What the pipeline decided for one message, with the evidence behind it (written to the trace).</summary>
public enum VerdictKind
{
    Inbox,
    Junk,
    Quarantine,
    Reject,
    TempFail,
}
