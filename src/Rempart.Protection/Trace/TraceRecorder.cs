using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Protection.Trace;

/// <summary>
/// Buffers message trace events from the mail path and writes them to the store in small batches: at most
/// <see cref="TraceRecorderOptions.BatchSize"/> events per write, and an event waits at most
/// <see cref="TraceRecorderOptions.FlushInterval"/> before its batch goes. <see cref="Record(TraceEvent)"/> never blocks and never
/// throws: when the store cannot keep up and the buffer is full, the oldest buffered event is dropped, counted in
/// <see cref="Dropped"/> and in <c>rempart_trace_events_dropped_total</c>, and a warning is logged (at most once per
/// <see cref="TraceRecorderOptions.DropWarningInterval"/>). The trace is an aid for the administrator: losing some
/// of it is better than slowing SMTP. Queries go straight to <see cref="IProtectionStore.QueryTraceAsync"/>.
/// Disposal writes what is still buffered.
/// </summary>
public sealed partial class TraceRecorder : ITraceSink, IAsyncDisposable
{
    private readonly IProtectionStore _store;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TraceRecorderOptions _options;
    private readonly Channel<TraceEvent> _buffer;
    private readonly Task _loop;
    private TaskCompletionSource _kick = NewSignal();
    private TaskCompletionSource _progress = NewSignal();
    private long _recorded;
    private long _handled;
    private long _dropped;
    private long _droppedReported;
    private long _written;
    private long _writeFailures;
    private int _flushRequested;
    private int _disposed;
    private DateTimeOffset _lastDropWarning = DateTimeOffset.MinValue;

    public TraceRecorder(IProtectionStore store, ILogger logger, TraceRecorderOptions? options = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(logger);
        _store = store;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _options = options ?? new TraceRecorderOptions();
        if (_options.Capacity < 1 || _options.BatchSize < 1 || _options.FlushInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("trace recorder capacity, batch size and flush interval must be positive", nameof(options));
        }

        _buffer = Channel.CreateBounded<TraceEvent>(
            new BoundedChannelOptions(_options.Capacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
                SingleWriter = false,
            },
            OnDropped);
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    /// <summary>Events dropped because the buffer was full (or recorded after disposal).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events written to the store.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Batches the store refused (their events are lost; each failure is logged).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>Events waiting in the buffer.</summary>
    public int Buffered => _buffer.Reader.Count;

    /// <summary>Buffers one event. Never blocks, never throws.</summary>
    public void Record(TraceEvent traceEvent)
    {
        if (traceEvent is null)
        {
            return;
        }

        // Counted before the write so a concurrent FlushAsync never waits for an event it cannot see yet.
        Interlocked.Increment(ref _recorded);
        if (!_buffer.Writer.TryWrite(traceEvent))
        {
            // Only after disposal: the channel is completed.
            OnDropped(traceEvent);
            return;
        }

        if (_buffer.Reader.Count >= _options.BatchSize)
        {
            Kick();
        }
    }

    /// <summary>Buffers several events (one message's events at one step).</summary>
    public void Record(IEnumerable<TraceEvent> traceEvents)
    {
        ArgumentNullException.ThrowIfNull(traceEvents);
        foreach (var e in traceEvents)
        {
            Record(e);
        }
    }

    /// <summary>Returns when every event recorded before the call is written (or was dropped, or its write failed).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        var target = Interlocked.Read(ref _recorded);
        while (true)
        {
            var progress = Volatile.Read(ref _progress);
            if (Interlocked.Read(ref _handled) >= target || _loop.IsCompleted)
            {
                return;
            }

            Volatile.Write(ref _flushRequested, 1);
            Kick();
            await progress.Task.WaitAsync(ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _buffer.Writer.TryComplete();
        Kick();
        await _loop;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Kick() => Volatile.Read(ref _kick).TrySetResult();

    private void OnDropped(TraceEvent dropped)
    {
        _ = dropped;
        Interlocked.Increment(ref _dropped);
        Interlocked.Increment(ref _handled);
        RempartMetrics.TraceEventsDropped.Inc();
    }

    private async Task RunAsync()
    {
        var reader = _buffer.Reader;
        var batch = new List<TraceEvent>(_options.BatchSize);
        while (await WaitForEventsAsync(reader))
        {
            await WaitForBatchAsync(reader);
            batch.Clear();
            while (batch.Count < _options.BatchSize && reader.TryRead(out var e))
            {
                batch.Add(e);
            }

            if (reader.Count == 0)
            {
                Volatile.Write(ref _flushRequested, 0);
            }

            if (batch.Count > 0)
            {
                await WriteBatchAsync(batch);
            }

            ReportDrops();
            Interlocked.Exchange(ref _progress, NewSignal()).TrySetResult();
        }

        ReportDrops();
        Interlocked.Exchange(ref _progress, NewSignal()).TrySetResult();
    }

    /// <summary>Liveness for the health model (set by the server): beats per batch written and every <see cref="IdleBeat"/> when idle.</summary>
    public WorkerHeartbeat? Liveness { get; set; }

    /// <summary>How often the idle recorder still beats, so an idle server is not taken for a stalled one.</summary>
    public static readonly TimeSpan IdleBeat = TimeSpan.FromSeconds(10);

    private volatile bool _lastBatchFailed;

    /// <summary>Waits for events, beating every <see cref="IdleBeat"/> meanwhile unless the last batch failed.</summary>
    private async ValueTask<bool> WaitForEventsAsync(ChannelReader<TraceEvent> reader)
    {
        var ready = reader.WaitToReadAsync(CancellationToken.None);
        if (ready.IsCompleted || Liveness is not { } liveness)
        {
            return await ready;
        }

        var waiting = ready.AsTask();
        while (!waiting.IsCompleted)
        {
            if (!_lastBatchFailed)
            {
                liveness.Beat(0);
            }

            await Task.WhenAny(waiting, Task.Delay(IdleBeat));
        }

        return await waiting;
    }

    /// <summary>Waits until a batch is full, the oldest buffered event has waited the flush interval, a flush is asked for, or disposal.</summary>
    private async Task WaitForBatchAsync(ChannelReader<TraceEvent> reader)
    {
        var deadline = _time.GetUtcNow() + _options.FlushInterval;
        while (true)
        {
            // Reset the signal before looking at the state, so a kick after the look is never lost.
            var kick = Volatile.Read(ref _kick);
            if (kick.Task.IsCompleted)
            {
                kick = NewSignal();
                Volatile.Write(ref _kick, kick);
            }

            var remaining = deadline - _time.GetUtcNow();
            if (reader.Count >= _options.BatchSize || Volatile.Read(ref _flushRequested) != 0 || reader.Completion.IsCompleted ||
                Volatile.Read(ref _disposed) != 0 || remaining <= TimeSpan.Zero)
            {
                return;
            }

            using var timeout = new CancellationTokenSource();
            var delay = Task.Delay(remaining, _time, timeout.Token);
            await Task.WhenAny(kick.Task, delay);
            await timeout.CancelAsync();
        }
    }

    private async Task WriteBatchAsync(List<TraceEvent> batch)
    {
        try
        {
            await _store.AppendTraceAsync(batch.ToArray(), CancellationToken.None);
            Interlocked.Add(ref _written, batch.Count);
            _lastBatchFailed = false;
            Liveness?.Beat(_buffer.Reader.Count);
        }
        catch (Exception ex)
        {
            // Any failure (store closed, disk full, a bad event) loses this batch of trace only; the loop must go on,
            // or every later Record would fill the buffer and drop.
            Interlocked.Increment(ref _writeFailures);
            _lastBatchFailed = true;
            Liveness?.Failed(ex);
            LogWriteFailed(_logger, batch.Count, ex);
        }
        finally
        {
            Interlocked.Add(ref _handled, batch.Count);
        }
    }

    private void ReportDrops()
    {
        var dropped = Interlocked.Read(ref _dropped);
        var reported = Interlocked.Read(ref _droppedReported);
        if (dropped == reported)
        {
            return;
        }

        var now = _time.GetUtcNow();
        if (now - _lastDropWarning < _options.DropWarningInterval && reported != 0)
        {
            return;
        }

        _lastDropWarning = now;
        Interlocked.Exchange(ref _droppedReported, dropped);
        LogDropped(_logger, dropped - reported, dropped, _options.Capacity);
    }

    [LoggerMessage(EventId = (int)EventIds.TraceEventsDropped, Level = LogLevel.Warning,
        Message = "Message trace buffer full: dropped {Count} oldest events ({Total} since start; capacity {Capacity}); the store is not keeping up")]
    private static partial void LogDropped(ILogger logger, long count, long total, int capacity);

    [LoggerMessage(EventId = (int)EventIds.TraceWriteFailed, Level = LogLevel.Error, Message = "Writing {Count} message trace events failed; they are lost")]
    private static partial void LogWriteFailed(ILogger logger, int count, Exception exception);
}

/// <summary>Sizes of the <see cref="TraceRecorder"/> buffer; the defaults suit a busy server.</summary>
public sealed record TraceRecorderOptions
{
    /// <summary>Events buffered at most; beyond that the oldest is dropped.</summary>
    public int Capacity { get; init; } = 10_000;

    /// <summary>Events per store write.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>Longest time an event waits in the buffer before its batch is written.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Least time between two "dropped" warnings.</summary>
    public TimeSpan DropWarningInterval { get; init; } = TimeSpan.FromSeconds(10);
}
