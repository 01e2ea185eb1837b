using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Protection.Tests.Quarantine;
using Rempart.Protection.Trace;
using Rempart.Store;

namespace Rempart.Protection.Tests.Trace;

public sealed class TraceRecorderTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static TraceEvent Event(int i) =>
        new(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000 + i), "T" + i, TraceEventKind.Received, "a@x.example", null, null, null, "e" + i);

    [Fact]
    public async Task Events_are_written_in_bounded_batches_and_dispose_flushes_the_rest()
    {
        var store = new RecordingStore();
        store.Gate.SetResult();
        var recorder = new TraceRecorder(store, NullLogger.Instance, new TraceRecorderOptions { BatchSize = 100, FlushInterval = TimeSpan.FromMinutes(10) });
        for (var i = 0; i < 250; i++)
        {
            recorder.Record(Event(i));
        }

        // Two full batches go without waiting for the (long) interval; the last 50 wait for it, or for disposal.
        await recorder.DisposeAsync();
        Assert.Equal(Enumerable.Range(0, 250).Select(i => "e" + i), store.Events.Select(e => e.Detail));
        Assert.All(store.Batches, b => Assert.InRange(b, 1, 100));
        Assert.True(store.Batches.Count >= 3);
        Assert.Equal(250, recorder.Written);
        Assert.Equal(0, recorder.Dropped);

        // After disposal, recording is a counted no-op.
        recorder.Record(Event(999));
        Assert.Equal(1, recorder.Dropped);
        Assert.Equal(250, store.Events.Count);
    }

    [Fact]
    public async Task Flush_writes_everything_recorded_before_it()
    {
        var store = new RecordingStore();
        store.Gate.SetResult();
        await using var recorder = new TraceRecorder(store, NullLogger.Instance, new TraceRecorderOptions { FlushInterval = TimeSpan.FromMinutes(10) });
        recorder.Record([Event(1), Event(2), Event(3)]);
        await recorder.FlushAsync().WaitAsync(Bound);
        Assert.Equal(["e1", "e2", "e3"], store.Events.Select(e => e.Detail));
        Assert.Equal(0, recorder.Buffered);
    }

    [Fact]
    public async Task Overflow_drops_the_oldest_counts_and_warns_without_blocking()
    {
        var store = new RecordingStore();
        var logger = new ListLogger();
        var recorder = new TraceRecorder(store, logger, new TraceRecorderOptions { Capacity = 10, BatchSize = 100, FlushInterval = TimeSpan.FromMinutes(10) });

        // The first write is held at the gate: the store "cannot keep up".
        recorder.Record(Event(0));
        var flushing = recorder.FlushAsync();
        await store.Entered.Task.WaitAsync(Bound);

        for (var i = 1; i <= 15; i++)
        {
            recorder.Record(Event(i));
        }

        Assert.Equal(5, recorder.Dropped);
        Assert.Equal(10, recorder.Buffered);

        store.Gate.SetResult();
        await flushing.WaitAsync(Bound);
        await recorder.DisposeAsync();

        // e1..e5 were the oldest buffered: dropped; e0 was already being written.
        Assert.Equal(new[] { 0 }.Concat(Enumerable.Range(6, 10)).Select(i => "e" + i), store.Events.Select(e => e.Detail));
        Assert.Contains(logger.Lines, l => l.Id.Id == (int)Rempart.Telemetry.EventIds.TraceEventsDropped && l.Message.Contains('5', StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_store_loses_the_batch_but_not_the_recorder()
    {
        var store = new RecordingStore { FailNext = true };
        store.Gate.SetResult();
        var logger = new ListLogger();
        await using var recorder = new TraceRecorder(store, logger, new TraceRecorderOptions { FlushInterval = TimeSpan.FromMinutes(10) });
        recorder.Record(Event(1));
        await recorder.FlushAsync().WaitAsync(Bound);
        recorder.Record(Event(2));
        await recorder.FlushAsync().WaitAsync(Bound);

        Assert.Equal(1, recorder.WriteFailures);
        Assert.Equal(["e2"], store.Events.Select(e => e.Detail));
        Assert.Contains(logger.Lines, l => l.Id.Id == (int)Rempart.Telemetry.EventIds.TraceWriteFailed);
    }

    /// <summary>Records AppendTraceAsync calls; the first call waits at <see cref="Gate"/>.</summary>
    private sealed class RecordingStore : IProtectionStore
    {
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<TraceEvent> Events { get; } = [];

        public List<int> Batches { get; } = [];

        public bool FailNext { get; set; }

        public async Task AppendTraceAsync(IReadOnlyList<TraceEvent> events, CancellationToken ct = default)
        {
            Entered.TrySetResult();
            await Gate.Task;
            if (FailNext)
            {
                FailNext = false;
                throw new StoreException("disk full");
            }

            lock (Events)
            {
                Events.AddRange(events);
                Batches.Add(events.Count);
            }
        }

        public Task<IReadOnlyList<TransportRuleRecord>> ListRulesAsync(CancellationToken ct = default) => throw new NotSupportedException();

        public Task<TransportRuleRecord> SaveRuleAsync(TransportRuleRecord rule, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> DeleteRuleAsync(string name, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<long> GetRulesVersionAsync(CancellationToken ct = default) => throw new NotSupportedException();

        public Task<QuarantineRecord> AddQuarantineAsync(NewQuarantine entry, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<QuarantineRecord>> ListQuarantineAsync(QuarantineQuery query, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<QuarantineRecord?> GetQuarantineAsync(long id, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> MarkReleasedAsync(long id, string releasedBy, DateTimeOffset when, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> DeleteQuarantineAsync(long id, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<int> ExpireQuarantineAsync(DateTimeOffset now, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<TraceEvent>> QueryTraceAsync(TraceQuery query, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<int> PruneTraceAsync(DateTimeOffset before, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
