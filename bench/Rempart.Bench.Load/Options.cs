using System.Globalization;
using System.Net;

namespace Rempart.Bench.Load;

/// <summary>Minimal "--name value" / "--flag" parser: the tool is driven by bench/run.sh, not by people.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public Options(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{a}'");
            }

            var name = a[2..];
            if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                _values[name] = args[++i];
            }
            else
            {
                _values[name] = "true";
            }
        }
    }

    public string Str(string name, string? fallback = null)
    {
        _used.Add(name);
        if (_values.TryGetValue(name, out var v))
        {
            return v;
        }

        return fallback ?? throw new ArgumentException($"--{name} is required");
    }

    public string? Maybe(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public int Int(string name, int fallback) => int.Parse(Str(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    public double Double(string name, double fallback) => double.Parse(Str(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    public bool Flag(string name) => Maybe(name) is "true" or "1" or "yes";

    public IPEndPoint Endpoint(string name, string? fallback = null) => IPEndPoint.Parse(Str(name, fallback));

    /// <summary>Fails on options nobody read, so a typo in run.sh does not silently fall back to a default.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException("unknown option(s): --" + string.Join(", --", unknown));
        }
    }
}
