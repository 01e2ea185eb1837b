namespace Rempart.Smtp.Protocol;

/// <summary>Where an SMTP session stands (RFC 5321 section 4.1.4 ordering rules).</summary>
[Flags]
public enum SmtpState
{
    None = 0,

    /// <summary>Greeting sent, no EHLO/HELO yet.</summary>
    Connected = 1,

    /// <summary>EHLO/HELO done, no transaction.</summary>
    Ready = 2,

    /// <summary>MAIL accepted, no recipient yet.</summary>
    Mail = 4,

    /// <summary>At least one RCPT accepted.</summary>
    Rcpt = 8,

    /// <summary>Between BDAT chunks (RFC 3030): only BDAT, RSET, NOOP and QUIT are allowed.</summary>
    Chunking = 16,

    Any = Connected | Ready | Mail | Rcpt | Chunking,
}

/// <summary>
/// The declarative table of which command is allowed in which state and which reply an out-of-sequence command gets
/// (house style habit 5). Sessions consult it before running a command; nothing else decides ordering.
/// </summary>
public static class SmtpStateTable
{
    private sealed record Rule(SmtpState Allowed, IReadOnlyDictionary<SmtpState, SmtpReply> Refusals, SmtpReply DefaultRefusal);

    private static readonly Dictionary<SmtpVerb, Rule> s_rules = new()
    {
        [SmtpVerb.Ehlo] = new(SmtpState.Any & ~SmtpState.Chunking, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BdatInProgress),
        [SmtpVerb.Helo] = new(SmtpState.Any & ~SmtpState.Chunking, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BdatInProgress),
        [SmtpVerb.Mail] = new(
            SmtpState.Ready,
            new Dictionary<SmtpState, SmtpReply> { [SmtpState.Connected] = SmtpReply.NeedHelo, [SmtpState.Mail] = SmtpReply.NestedMail, [SmtpState.Rcpt] = SmtpReply.NestedMail },
            SmtpReply.BdatInProgress),
        [SmtpVerb.Rcpt] = new(
            SmtpState.Mail | SmtpState.Rcpt,
            new Dictionary<SmtpState, SmtpReply> { [SmtpState.Connected] = SmtpReply.NeedHelo, [SmtpState.Ready] = SmtpReply.NeedMail },
            SmtpReply.BdatInProgress),

        // RFC 5321 section 3.3: DATA with no valid recipient gets 554 (or 503).
        [SmtpVerb.Data] = new(
            SmtpState.Rcpt,
            new Dictionary<SmtpState, SmtpReply> { [SmtpState.Connected] = SmtpReply.NeedHelo, [SmtpState.Ready] = SmtpReply.NeedMail, [SmtpState.Mail] = SmtpReply.NeedRcpt },
            SmtpReply.MixedDataBdat),
        [SmtpVerb.Bdat] = new(
            SmtpState.Rcpt | SmtpState.Chunking,
            new Dictionary<SmtpState, SmtpReply> { [SmtpState.Connected] = SmtpReply.NeedHelo, [SmtpState.Ready] = SmtpReply.NeedMail, [SmtpState.Mail] = SmtpReply.NeedRcpt },
            SmtpReply.BadSequence),
        [SmtpVerb.Rset] = new(SmtpState.Any, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BadSequence),
        [SmtpVerb.Noop] = new(SmtpState.Any, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BadSequence),
        [SmtpVerb.Quit] = new(SmtpState.Any, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BadSequence),
        [SmtpVerb.Help] = new(SmtpState.Any & ~SmtpState.Chunking, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BdatInProgress),
        [SmtpVerb.Vrfy] = new(SmtpState.Any & ~SmtpState.Chunking, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BdatInProgress),
        [SmtpVerb.Expn] = new(SmtpState.Any & ~SmtpState.Chunking, new Dictionary<SmtpState, SmtpReply>(), SmtpReply.BdatInProgress),

        // RFC 3207 section 4: STARTTLS after EHLO, outside a transaction.
        [SmtpVerb.StartTls] = new(
            SmtpState.Ready,
            new Dictionary<SmtpState, SmtpReply> { [SmtpState.Connected] = SmtpReply.NeedHelo },
            SmtpReply.BadSequence),

        // RFC 4954 section 4: AUTH is not permitted during a mail transaction.
        [SmtpVerb.Auth] = new(
            SmtpState.Ready,
            new Dictionary<SmtpState, SmtpReply> { [SmtpState.Connected] = SmtpReply.NeedHelo },
            SmtpReply.BadSequence),
    };

    /// <summary>Every verb the table covers (all but <see cref="SmtpVerb.Unknown"/>).</summary>
    public static IEnumerable<SmtpVerb> Verbs => s_rules.Keys;

    /// <summary>Returns null when <paramref name="verb"/> may run in <paramref name="state"/>, else the reply to send.</summary>
    public static SmtpReply? Check(SmtpVerb verb, SmtpState state)
    {
        if (!s_rules.TryGetValue(verb, out var rule))
        {
            return SmtpReply.SyntaxError;
        }

        if ((rule.Allowed & state) != 0)
        {
            return null;
        }

        if (state == SmtpState.Chunking && verb is not (SmtpVerb.Bdat or SmtpVerb.Data))
        {
            return SmtpReply.BdatInProgress;
        }

        return rule.Refusals.TryGetValue(state, out var reply) ? reply : rule.DefaultRefusal;
    }
}
