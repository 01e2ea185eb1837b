using Rempart.Common.Configuration;

namespace Rempart.Monitoring.Reporting;

/// <summary>One point of a series set: counters as events during the point, gauges as the value (fine) or the
/// highest value (coarse).</summary>
public sealed record ReportPoint(DateTimeOffset At, double[] Values);

/// <summary>Points in column form for the page's charts: <c>T</c> (Unix ms) and one value array per series.</summary>
public sealed record SeriesColumns(int StepSeconds, long[] T, double[][] V);

/// <summary>
/// Reads the server's counters every <see cref="ReportOptions.SampleInterval"/> into two fixed-size rings: a fine
/// one (e.g. one hour at 2 s, 1 800 points) and a coarse one (e.g. one day at 1 min, 1 440 points), so memory stays
/// bounded however long the server runs.
/// </summary>
public sealed class ReportSampler
{
    private readonly ReportOptions _options;
    private readonly Func<double[]> _read;
    private readonly TimeProvider _time;
    private readonly RingBuffer<ReportPoint> _fine;
    private readonly RingBuffer<ReportPoint> _coarse;
    private readonly IReadOnlyList<SeriesDefinition> _series;
    private readonly Lock _lock = new();
    private double[]? _first;
    private double[]? _previous;
    private long _bucket = long.MinValue;
    private double[]? _bucketValues;

    /// <param name="read">Reads every series (see <see cref="ReportSeries.ReadMetrics"/>); counters as running totals.</param>
    public ReportSampler(ReportOptions options, Func<double[]> read, TimeProvider? time = null, IReadOnlyList<SeriesDefinition>? series = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(read);
        _options = options;
        _read = read;
        _time = time ?? TimeProvider.System;
        _series = series ?? ReportSeries.All;
        _fine = new RingBuffer<ReportPoint>(Math.Max(1, (int)(options.FineRetention / options.SampleInterval)));
        _coarse = new RingBuffer<ReportPoint>(Math.Max(1, (int)(options.CoarseRetention / options.CoarseInterval)));
    }

    public IReadOnlyList<SeriesDefinition> Series => _series;

    public int FineCapacity => _fine.Capacity;

    public int CoarseCapacity => _coarse.Capacity;

    /// <summary>Takes one sample now.</summary>
    public void Sample() => Record(_time.GetUtcNow(), _read());

    /// <summary>Adds a sample of running totals (counters) and values (gauges) taken at <paramref name="now"/>.</summary>
    public void Record(DateTimeOffset now, double[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != _series.Count)
        {
            throw new ArgumentException($"expected {_series.Count} values, got {values.Length}", nameof(values));
        }

        lock (_lock)
        {
            _first ??= (double[])values.Clone();
            var point = new double[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                // A counter's first sample has no predecessor: it starts the series at 0 events rather than
                // charting everything since the process started as one spike.
                point[i] = _series[i].Kind == SeriesKind.Gauge
                    ? values[i]
                    : Math.Max(0, values[i] - (_previous?[i] ?? values[i]));
            }

            _previous = (double[])values.Clone();
            _fine.Add(new ReportPoint(now, point));

            var bucket = now.ToUnixTimeMilliseconds() / (long)_options.CoarseInterval.TotalMilliseconds;
            if (bucket != _bucket)
            {
                FlushBucket();
                _bucket = bucket;
                _bucketValues = new double[values.Length];
            }

            for (var i = 0; i < point.Length; i++)
            {
                _bucketValues![i] = _series[i].Kind == SeriesKind.Gauge ? Math.Max(_bucketValues[i], point[i]) : _bucketValues[i] + point[i];
            }
        }
    }

    private void FlushBucket()
    {
        if (_bucketValues is not null)
        {
            var at = DateTimeOffset.FromUnixTimeMilliseconds(_bucket * (long)_options.CoarseInterval.TotalMilliseconds);
            _coarse.Add(new ReportPoint(at, _bucketValues));
        }
    }

    /// <summary>The newest <paramref name="max"/> fine points, in column form.</summary>
    public SeriesColumns Fine(int max)
    {
        lock (_lock)
        {
            return Columns(_fine.Last(max), (int)Math.Max(1, _options.SampleInterval.TotalSeconds));
        }
    }

    /// <summary>The newest <paramref name="max"/> coarse points, the bucket still filling included as the last one.</summary>
    public SeriesColumns Coarse(int max)
    {
        lock (_lock)
        {
            // The bucket still filling counts towards the capacity, so a reader never gets more than it holds.
            max = Math.Min(max, _coarse.Capacity);
            var points = _coarse.Last(max);
            if (_bucketValues is not null)
            {
                points.Add(new ReportPoint(DateTimeOffset.FromUnixTimeMilliseconds(_bucket * (long)_options.CoarseInterval.TotalMilliseconds), (double[])_bucketValues.Clone()));
                if (points.Count > max)
                {
                    points.RemoveAt(0);
                }
            }

            return Columns(points, (int)_options.CoarseInterval.TotalSeconds);
        }
    }

    /// <summary>Counters: events since the sampler started. Gauges: the latest value.</summary>
    public Dictionary<string, double> Totals()
    {
        lock (_lock)
        {
            var totals = new Dictionary<string, double>(StringComparer.Ordinal);
            for (var i = 0; i < _series.Count; i++)
            {
                var latest = _previous?[i] ?? 0;
                totals[_series[i].Name] = _series[i].Kind == SeriesKind.Gauge ? latest : Math.Max(0, latest - (_first?[i] ?? 0));
            }

            return totals;
        }
    }

    private SeriesColumns Columns(List<ReportPoint> points, int step)
    {
        var t = points.Select(p => p.At.ToUnixTimeMilliseconds()).ToArray();
        var v = new double[_series.Count][];
        for (var s = 0; s < v.Length; s++)
        {
            v[s] = points.Select(p => p.Values[s]).ToArray();
        }

        return new SeriesColumns(step, t, v);
    }

    /// <summary>Samples every <see cref="ReportOptions.SampleInterval"/> until cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.SampleInterval, _time);
        Sample();
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                Sample();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
