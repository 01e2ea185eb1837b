using System.Globalization;

namespace Rempart.Cli;

/// <summary>Parsing and printing of sizes, counts and times.</summary>
internal static class Formats
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB"];

    /// <summary>
    /// Parses a byte count: a positive integer with an optional K, M, G or T suffix (powers of 1024), or
    /// "unlimited" (null). Throws a usage error naming <paramref name="option"/>.
    /// </summary>
    public static long? ParseBytes(string value, string option)
    {
        var v = value.Trim();
        if (IsUnlimited(v))
        {
            return null;
        }

        // Accept 2G, 2GB and 2GiB alike: all are 1024-based here.
        v = v.ToUpperInvariant();
        if (v.EndsWith("IB", StringComparison.Ordinal))
        {
            v = v[..^2];
        }
        else if (v.EndsWith('B'))
        {
            v = v[..^1];
        }

        var multiplier = 1L;
        var shift = v.Length == 0 ? 0 : v[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0)
        {
            multiplier = 1L << shift;
            v = v[..^1];
        }

        if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0 || n > long.MaxValue / multiplier)
        {
            throw CliException.Usage($"{option} '{value}' is not a size: use a positive number of bytes, optionally with K, M, G or T (1024-based), for example 2G, or 'unlimited'.");
        }

        return n * multiplier;
    }

    /// <summary>Parses a positive message count or "unlimited" (null).</summary>
    public static long? ParseCount(string value, string option)
    {
        var v = value.Trim();
        if (IsUnlimited(v))
        {
            return null;
        }

        return long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw CliException.Usage($"{option} '{value}' is not a count: use a positive number, for example 10000, or 'unlimited'.");
    }

    public static string Bytes(long bytes)
    {
        double v = bytes;
        var unit = 0;
        while (v >= 1024 && unit < Units.Length - 1)
        {
            v /= 1024;
            unit++;
        }

        return unit == 0
            ? bytes.ToString(CultureInfo.InvariantCulture) + " B"
            : v.ToString(v >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    public static string Limit(long? max, Func<long, string> format) => max is { } m ? format(m) : "unlimited";

    public static string Count(long n) => n.ToString(CultureInfo.InvariantCulture);

    public static string Plural(long n, string one, string many) => Count(n) + " " + (n == 1 ? one : many);

    public static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static bool IsUnlimited(string v) =>
        v.Equals("unlimited", StringComparison.OrdinalIgnoreCase) || v.Equals("none", StringComparison.OrdinalIgnoreCase);
}
