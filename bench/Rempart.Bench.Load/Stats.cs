using System.Diagnostics;

namespace Rempart.Bench.Load;

/// <summary>Latency samples of one kind; percentiles by sorting (runs are short, every sample is kept).</summary>
internal sealed class Latencies
{
    private readonly List<long> _ticks = [];

    public int Count => _ticks.Count;

    public void Add(long ticks) => _ticks.Add(ticks);

    public double Ms(int index) => _ticks[index] * 1000.0 / Stopwatch.Frequency;

    public void AddAll(Latencies other) => _ticks.AddRange(other._ticks);

    public double PercentileMs(double p)
    {
        if (_ticks.Count == 0)
        {
            return double.NaN;
        }

        var sorted = _ticks.ToArray();
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)] * 1000.0 / Stopwatch.Frequency;
    }
}
