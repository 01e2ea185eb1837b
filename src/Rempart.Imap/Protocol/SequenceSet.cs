using System.Globalization;
using System.Text;

namespace Rempart.Imap.Protocol;

/// <summary>
/// RFC 9051 sequence-set (<c>1:4,7,9:*</c>). "*" is stored as <see cref="long.MaxValue"/> and resolved against the
/// largest number in use when matching, so <c>5:*</c> with 3 messages still means 3:5 as the RFC says.
/// </summary>
public sealed class SequenceSet
{
    private const long Star = long.MaxValue;
    private readonly List<(long From, long To)> _ranges;

    private SequenceSet(List<(long From, long To)> ranges) => _ranges = ranges;

    public IReadOnlyList<(long From, long To)> Ranges => _ranges;

    public static bool TryParse(string text, out SequenceSet set)
    {
        set = new SequenceSet([]);
        if (text.Length == 0 || text.Length > 100_000)
        {
            return false;
        }

        foreach (var part in text.Split(','))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                if (!TryNumber(part, out var n))
                {
                    return false;
                }

                set._ranges.Add((n, n));
            }
            else
            {
                if (!TryNumber(part[..colon], out var a) || !TryNumber(part[(colon + 1)..], out var b))
                {
                    return false;
                }

                set._ranges.Add((Math.Min(a, b), Math.Max(a, b)));
            }
        }

        return true;
    }

    private static bool TryNumber(string text, out long value)
    {
        if (text == "*")
        {
            value = Star;
            return true;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value is > 0 and <= uint.MaxValue;
    }

    /// <summary>True when <paramref name="n"/> is in the set; "*" stands for <paramref name="max"/>.</summary>
    public bool Contains(long n, long max)
    {
        foreach (var (from, to) in _ranges)
        {
            var a = from == Star ? max : from;
            var b = to == Star ? max : to;
            if (a > b)
            {
                (a, b) = (b, a);
            }

            if (n >= a && n <= b)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Compact form of ascending numbers: <c>1:3,5</c>.</summary>
    public static string Format(IEnumerable<long> numbers)
    {
        var sorted = numbers.Distinct().Order().ToList();
        var sb = new StringBuilder();
        for (var i = 0; i < sorted.Count; i++)
        {
            var start = sorted[i];
            var end = start;
            while (i + 1 < sorted.Count && sorted[i + 1] == end + 1)
            {
                end = sorted[++i];
            }

            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(start.ToString(CultureInfo.InvariantCulture));
            if (end != start)
            {
                sb.Append(':').Append(end.ToString(CultureInfo.InvariantCulture));
            }
        }

        return sb.ToString();
    }
}
