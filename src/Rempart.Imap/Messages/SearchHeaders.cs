using System.Collections.Concurrent;
using System.Text;
using MimeKit;

namespace Rempart.Imap.Messages;

/// <summary>
/// A message's header fields as SEARCH and SORT read them: the field name, the decoded value and the raw value of
/// every field, in order. Immutable, so one instance can serve every session.
/// </summary>
internal sealed class SearchHeaders
{
    public static readonly SearchHeaders Empty = new([]);

    private readonly Field[] _fields;

    private SearchHeaders(Field[] fields)
    {
        _fields = fields;
        var chars = 0L;
        foreach (var f in fields)
        {
            chars += f.Name.Length + f.Value.Length + f.Raw.Length;
        }

        Chars = chars;
    }

    /// <summary>Characters held (the cache's measure of size).</summary>
    public long Chars { get; }

    public IReadOnlyList<Field> Fields => _fields;

    /// <summary>The decoded value of the first field with this id, or null (as <see cref="HeaderList"/>'s indexer).</summary>
    public string? this[HeaderId id]
    {
        get
        {
            foreach (var f in _fields)
            {
                if (f.Id == id)
                {
                    return f.Value;
                }
            }

            return null;
        }
    }

    public static SearchHeaders From(HeaderList headers)
    {
        var fields = new Field[headers.Count];
        for (var i = 0; i < fields.Length; i++)
        {
            var h = headers[i];
            fields[i] = new Field(h.Id, h.Field, h.Value ?? string.Empty, Encoding.UTF8.GetString(h.RawValue));
        }

        return new SearchHeaders(fields);
    }

    /// <param name="Value">Unfolded, RFC 2047-decoded value.</param>
    /// <param name="Raw">The value as it is in the message (folding and encoded words kept).</param>
    internal readonly record struct Field(HeaderId Id, string Name, string Value, string Raw);
}

/// <summary>
/// Parsed header fields by blob hash, shared by all sessions: SEARCH FROM/SUBJECT/HEADER otherwise opens,
/// decompresses and parses every message of the mailbox on every search (it was most of the CPU of the IMAP mix).
/// Bodies are content-addressed and never change, so an entry cannot go stale; an expunged body's entry just ages out.
/// Bounded by characters held: two generations, the older one dropped when the newer fills its half.
/// </summary>
internal sealed class SearchHeaderCache(long maxChars)
{
    private readonly Lock _gate = new();
    private ConcurrentDictionary<string, SearchHeaders> _current = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, SearchHeaders> _previous = new(StringComparer.Ordinal);
    private long _currentChars;

    /// <summary>
    /// The process-wide instance: 16 Mi characters at most (32 MiB of string data plus per-field overhead), enough for
    /// the headers of tens of thousands of typical messages.
    /// </summary>
    public static SearchHeaderCache Shared { get; } = new(16L * 1024 * 1024);

    public bool TryGet(string hash, out SearchHeaders headers)
    {
        if (_current.TryGetValue(hash, out headers!))
        {
            return true;
        }

        if (_previous.TryGetValue(hash, out headers!))
        {
            // Still in use: keep it through the next generation change.
            Add(hash, headers);
            return true;
        }

        return false;
    }

    public void Add(string hash, SearchHeaders headers)
    {
        if (headers.Chars > maxChars / 8)
        {
            // One huge header block would flush everything else; parse it again when needed.
            return;
        }

        lock (_gate)
        {
            if (_currentChars + headers.Chars > maxChars / 2)
            {
                _previous = _current;
                _current = new ConcurrentDictionary<string, SearchHeaders>(StringComparer.Ordinal);
                _currentChars = 0;
            }

            if (_current.TryAdd(hash, headers))
            {
                _currentChars += headers.Chars;
            }
        }
    }

    /// <summary>Entries held (tests).</summary>
    internal int Count => _current.Count + _previous.Count;
}
