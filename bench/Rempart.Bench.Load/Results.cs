using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rempart.Bench.Load;

/// <summary>
/// One figure of a run. <see cref="Goal"/>, when set, is the minimum "Rempart advantage" the project aims for:
/// the ratio Rempart/peer for higher-is-better figures, peer/Rempart for lower-is-better ones.
/// </summary>
internal sealed record Metric(string Name, double Value, string Unit, bool HigherIsBetter, double? Goal = null);

internal sealed class RunResult
{
    public string Mode { get; set; } = "";
    public string Server { get; set; } = "";
    public string Started { get; set; } = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture);
    public Dictionary<string, string> Parameters { get; set; } = [];
    public List<Metric> Metrics { get; set; } = [];
    public List<string> Notes { get; set; } = [];

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void Add(string name, double value, string unit, bool higherIsBetter, double? goal = null)
    {
        Metrics.Add(new Metric(name, value, unit, higherIsBetter, goal));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {Server,-10} {name,-34} {value,12:0.###} {unit}"));
    }

    public void Save(string? path)
    {
        if (path is not null)
        {
            File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
        }
    }

    public static RunResult? Load(string? path) =>
        path is not null && File.Exists(path) && new FileInfo(path).Length > 0
            ? JsonSerializer.Deserialize<RunResult>(File.ReadAllText(path), Json)
            : null;

    /// <summary>The markdown side-by-side table: both figures, the ratio and whether the goal is met.</summary>
    public static string Report(string mode, string peerName, RunResult? rempart, RunResult? peer, string? rempartError, string? peerError)
    {
        var sb = new StringBuilder();
        var any = rempart ?? peer;
        sb.AppendLine(CultureInfo.InvariantCulture, $"### {mode}");
        sb.AppendLine();
        if (any is not null)
        {
            sb.AppendLine("Parameters: " + string.Join(", ", any.Parameters.Select(p => $"{p.Key}={p.Value}")));
            sb.AppendLine();
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| figure | Rempart | {peerName} | Rempart advantage (×) | goal |");
        sb.AppendLine("|---|---:|---:|---:|---|");
        var names = (rempart?.Metrics ?? []).Select(m => m.Name).Concat((peer?.Metrics ?? []).Select(m => m.Name)).Distinct(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var r = rempart?.Metrics.FirstOrDefault(m => m.Name == name);
            var p = peer?.Metrics.FirstOrDefault(m => m.Name == name);
            var unit = (r ?? p)!.Unit;
            var higher = (r ?? p)!.HigherIsBetter;
            var goal = (r ?? p)!.Goal;
            var ratio = double.NaN;
            if (r is not null && p is not null && r.Value > 0 && p.Value > 0)
            {
                ratio = higher ? r.Value / p.Value : p.Value / r.Value;
            }

            var goalText = goal is null ? "" : double.IsNaN(ratio)
                ? string.Create(CultureInfo.InvariantCulture, $"≥ {goal:0.##}× — not measured")
                : string.Create(CultureInfo.InvariantCulture, $"≥ {goal:0.##}× — {(ratio >= goal ? "met" : "**missed**")}");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} ({unit}{(higher ? ", higher is better" : ", lower is better")}) | {Fmt(r)} | {Fmt(p)} | {(double.IsNaN(ratio) ? "n/a" : ratio.ToString("0.00", CultureInfo.InvariantCulture))} | {goalText} |");
        }

        sb.AppendLine();
        foreach (var (who, res, err) in new[] { ("Rempart", rempart, rempartError), (peerName, peer, peerError) })
        {
            if (err is not null)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {who}: run failed: {err}");
            }

            foreach (var n in res?.Notes ?? [])
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {who}: {n}");
            }
        }

        return sb.ToString();
    }

    private static string Fmt(Metric? m) => m is null ? "n/a" : m.Value.ToString(m.Value >= 100 ? "N0" : "0.##", CultureInfo.InvariantCulture);
}
