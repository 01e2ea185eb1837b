namespace Rempart.Telemetry;

/// <summary>
/// Heartbeats of the server's background workers (queue runner, store writer, trace recorder, spam learner,
/// quarantine sweeper, backup scheduler): each worker registers once and beats on every loop iteration, with its
/// backlog. The health model (Rempart.Monitoring) reads <see cref="Snapshot"/>; a worker whose last beat is older
/// than a few of its expected intervals is stalled, one whose last iteration threw is crashing.
/// </summary>
public sealed class WorkerRegistry(TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly List<WorkerHeartbeat> _workers = [];

    public WorkerRegistry()
        : this(TimeProvider.System)
    {
    }

    /// <summary>Registers a worker; <paramref name="expectedInterval"/> is how often it beats when healthy and idle.</summary>
    public WorkerHeartbeat Register(string name, TimeSpan expectedInterval)
    {
        var beat = new WorkerHeartbeat(name, expectedInterval, time);
        lock (_gate)
        {
            _workers.RemoveAll(w => w.Name == name);
            _workers.Add(beat);
        }

        return beat;
    }

    /// <summary>The workers registered now, in registration order.</summary>
    public IReadOnlyList<WorkerHeartbeat> Snapshot()
    {
        lock (_gate)
        {
            return [.. _workers];
        }
    }
}

/// <summary>One worker's liveness record. Thread-safe; beats are cheap (a few field writes).</summary>
public sealed class WorkerHeartbeat
{
    private readonly TimeProvider _time;
    private long _lastBeatTicks;
    private long _backlog;
    private long _failures;
    private string? _lastError;
    private long _lastErrorTicks;

    internal WorkerHeartbeat(string name, TimeSpan expectedInterval, TimeProvider time)
    {
        Name = name;
        ExpectedInterval = expectedInterval;
        _time = time;
        _lastBeatTicks = time.GetUtcNow().UtcTicks;
    }

    public string Name { get; }

    public TimeSpan ExpectedInterval { get; }

    /// <summary>Set when the worker's loop has ended (server stopping); a stopped worker is not stalled.</summary>
    public bool Stopped { get; private set; }

    public DateTimeOffset LastBeat => new(Interlocked.Read(ref _lastBeatTicks), TimeSpan.Zero);

    /// <summary>Work waiting (queue entries due, events buffered), as last reported.</summary>
    public long Backlog => Interlocked.Read(ref _backlog);

    /// <summary>Iterations that threw since the worker started.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>When the last failure happened, or null when none did.</summary>
    public DateTimeOffset? LastErrorAt => Interlocked.Read(ref _lastErrorTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>The worker is alive and made progress; <paramref name="backlog"/> is its pending work.</summary>
    public void Beat(long backlog = 0)
    {
        Interlocked.Exchange(ref _backlog, backlog);
        Interlocked.Exchange(ref _lastBeatTicks, _time.GetUtcNow().UtcTicks);
    }

    /// <summary>One iteration failed; the worker goes on (a crash loop shows as repeated failures).</summary>
    public void Failed(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        Interlocked.Increment(ref _failures);
        Volatile.Write(ref _lastError, error.GetType().Name + ": " + error.Message);
        Interlocked.Exchange(ref _lastErrorTicks, _time.GetUtcNow().UtcTicks);
    }

    public void Stop() => Stopped = true;
}
