using System.Text;

namespace Rempart.Imap.Protocol;

public enum ImapArgKind
{
    /// <summary>An atom, including FETCH section atoms such as <c>BODY[HEADER.FIELDS (To)]&lt;0.10&gt;</c>.</summary>
    Atom,

    /// <summary>A quoted string.</summary>
    Quoted,

    /// <summary>A literal (<c>{n}</c>, <c>{n+}</c>, <c>~{n}</c>).</summary>
    Literal,

    /// <summary>A parenthesised list.</summary>
    List,
}

/// <summary>One argument of a command, as the wire gave it; meaning is for the command handler.</summary>
public sealed class ImapArg
{
    private string? _text;

    private ImapArg(ImapArgKind kind, ReadOnlyMemory<byte> data, IReadOnlyList<ImapArg>? items)
    {
        Kind = kind;
        Data = data;
        Items = items ?? [];
    }

    public ImapArgKind Kind { get; }

    /// <summary>Raw octets of an atom, quoted string (unescaped) or literal.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Children of a list.</summary>
    public IReadOnlyList<ImapArg> Items { get; }

    /// <summary>UTF-8 text of an atom or string; empty for lists.</summary>
    public string Text => _text ??= Kind == ImapArgKind.List ? string.Empty : Encoding.UTF8.GetString(Data.Span);

    public bool IsString => Kind is ImapArgKind.Atom or ImapArgKind.Quoted or ImapArgKind.Literal;

    public bool IsNil => Kind == ImapArgKind.Atom && Text.Equals("NIL", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for an atom equal (ASCII case-insensitively) to <paramref name="word"/>.</summary>
    public bool Is(string word) => Kind == ImapArgKind.Atom && Text.Equals(word, StringComparison.OrdinalIgnoreCase);

    public static ImapArg Atom(ReadOnlyMemory<byte> data) => new(ImapArgKind.Atom, data, null);

    public static ImapArg Quoted(ReadOnlyMemory<byte> data) => new(ImapArgKind.Quoted, data, null);

    public static ImapArg Literal(ReadOnlyMemory<byte> data) => new(ImapArgKind.Literal, data, null);

    public static ImapArg List(IReadOnlyList<ImapArg> items) => new(ImapArgKind.List, default, items);

    public override string ToString() => Kind switch
    {
        ImapArgKind.List => "(" + string.Join(' ', Items) + ")",
        ImapArgKind.Literal => "{" + Data.Length + "}",
        ImapArgKind.Quoted => "\"" + Text + "\"",
        _ => Text,
    };
}

/// <summary>A complete client command: tag, upper-case name ("UID FETCH" for UID commands) and arguments.</summary>
public sealed record ImapCommand(string Tag, string Name, IReadOnlyList<ImapArg> Args);
