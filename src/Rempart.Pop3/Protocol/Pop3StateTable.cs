namespace Rempart.Pop3.Protocol;

/// <summary>The three POP3 session states (RFC 1939 section 3).</summary>
public enum Pop3State
{
    Authorization,
    Transaction,

    /// <summary>Entered by QUIT from TRANSACTION: deletions are committed, then the connection closes.</summary>
    Update,
}

/// <summary>Set of states a command is valid in.</summary>
[Flags]
public enum Pop3States
{
    None = 0,
    Authorization = 1,
    Transaction = 2,
    Update = 4,
}

public enum Pop3CommandKind
{
    /// <summary>A keyword this server does not know (APOP, LAST, XTND ...).</summary>
    Unknown,
    Capa,
    Stls,
    User,
    Pass,
    Auth,
    Quit,
    Stat,
    List,
    Retr,
    Dele,
    Noop,
    Rset,
    Top,
    Uidl,
}

/// <summary>How a command's arguments are read.</summary>
public enum Pop3ArgumentKind
{
    None,

    /// <summary>Space-separated decimal numbers (message numbers, TOP line count).</summary>
    Numbers,

    /// <summary>Space-separated words (USER name, AUTH mechanism and initial response).</summary>
    Words,

    /// <summary>The whole rest of the line, spaces included (RFC 1939 PASS: the password may contain spaces).</summary>
    Rest,
}

/// <summary>One row of the state table: a keyword, where it is valid and its arity.</summary>
public sealed record Pop3CommandSpec(Pop3CommandKind Kind, byte[] Keyword, Pop3States ValidIn, int MinArguments, int MaxArguments, Pop3ArgumentKind Arguments)
{
    public string Name => System.Text.Encoding.ASCII.GetString(Keyword);
}

/// <summary>
/// The declarative POP3 state table (house style, habit 5). Every command the server knows is one row; the session
/// refuses a command outside its states with a plain -ERR and keeps the connection.
/// </summary>
public static class Pop3StateTable
{
    private const Pop3States Auth = Pop3States.Authorization;
    private const Pop3States Trans = Pop3States.Transaction;

    public static readonly IReadOnlyList<Pop3CommandSpec> Commands =
    [
        // RFC 2449: CAPA is valid in AUTHORIZATION and TRANSACTION.
        new(Pop3CommandKind.Capa, "CAPA"u8.ToArray(), Auth | Trans, 0, 0, Pop3ArgumentKind.None),

        // RFC 2595 section 4: STLS only in AUTHORIZATION.
        new(Pop3CommandKind.Stls, "STLS"u8.ToArray(), Auth, 0, 0, Pop3ArgumentKind.None),
        new(Pop3CommandKind.User, "USER"u8.ToArray(), Auth, 1, 1, Pop3ArgumentKind.Words),
        new(Pop3CommandKind.Pass, "PASS"u8.ToArray(), Auth, 1, 1, Pop3ArgumentKind.Rest),

        // RFC 5034: AUTH mechanism [initial-response]; bare AUTH lists mechanisms (RFC 1734 practice).
        new(Pop3CommandKind.Auth, "AUTH"u8.ToArray(), Auth, 0, 2, Pop3ArgumentKind.Words),
        new(Pop3CommandKind.Quit, "QUIT"u8.ToArray(), Auth | Trans, 0, 0, Pop3ArgumentKind.None),
        new(Pop3CommandKind.Stat, "STAT"u8.ToArray(), Trans, 0, 0, Pop3ArgumentKind.None),
        new(Pop3CommandKind.List, "LIST"u8.ToArray(), Trans, 0, 1, Pop3ArgumentKind.Numbers),
        new(Pop3CommandKind.Retr, "RETR"u8.ToArray(), Trans, 1, 1, Pop3ArgumentKind.Numbers),
        new(Pop3CommandKind.Dele, "DELE"u8.ToArray(), Trans, 1, 1, Pop3ArgumentKind.Numbers),
        new(Pop3CommandKind.Noop, "NOOP"u8.ToArray(), Trans, 0, 0, Pop3ArgumentKind.None),
        new(Pop3CommandKind.Rset, "RSET"u8.ToArray(), Trans, 0, 0, Pop3ArgumentKind.None),
        new(Pop3CommandKind.Top, "TOP"u8.ToArray(), Trans, 2, 2, Pop3ArgumentKind.Numbers),
        new(Pop3CommandKind.Uidl, "UIDL"u8.ToArray(), Trans, 0, 1, Pop3ArgumentKind.Numbers),
    ];

    /// <summary>The row for a keyword (case-insensitive, RFC 1939 section 3), or null when unknown.</summary>
    public static Pop3CommandSpec? Find(ReadOnlySpan<byte> keyword)
    {
        foreach (var spec in Commands)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(keyword, spec.Keyword))
            {
                return spec;
            }
        }

        return null;
    }

    public static Pop3CommandSpec Get(Pop3CommandKind kind)
    {
        foreach (var spec in Commands)
        {
            if (spec.Kind == kind)
            {
                return spec;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(kind), kind, "No such command.");
    }

    public static bool IsAllowed(Pop3CommandKind kind, Pop3State state)
    {
        if (kind == Pop3CommandKind.Unknown)
        {
            return false;
        }

        var flag = state switch
        {
            Pop3State.Authorization => Pop3States.Authorization,
            Pop3State.Transaction => Pop3States.Transaction,
            _ => Pop3States.Update,
        };
        return (Get(kind).ValidIn & flag) != 0;
    }
}
