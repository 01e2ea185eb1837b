using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Smtp.Dsn;
using Rempart.Smtp.Outbound;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Smtp.Queue;

/// <summary>
/// The durable outbound queue and its worker. All state lives in <see cref="IQueueStore"/>, so a restart resumes
/// where it stopped. Each due entry (one destination domain) is delivered with at most
/// <see cref="QueueOptions.Concurrency"/> deliveries at once: 2xx removes recipients, 5xx bounces them with one
/// failure DSN, 4xx and connection trouble retry with exponential backoff until <see cref="QueueOptions.Lifetime"/>,
/// with one delay notice after <see cref="QueueOptions.DelayNoticeAfter"/>.
/// </summary>
public sealed partial class QueueRunner : IOutboundQueue, IDisposable
{
    /// <summary>Longest sleep between scans, so entries changed by another process (the CLI's retry) are noticed.</summary>
    private static readonly TimeSpan MaxIdleWait = TimeSpan.FromSeconds(30);

    /// <summary>Counting the whole queue is a full scan; the idle loop does it at most this often.</summary>
    private static readonly TimeSpan BacklogRefreshInterval = TimeSpan.FromSeconds(10);

    private readonly IMailStore _store;
    private readonly RempartOptions _options;
    private readonly IOutboundTransport _transport;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DsnSender _dsn;
    private readonly ConcurrentDictionary<long, bool> _inFlight = new();
    private readonly SemaphoreSlim _slots;
    private readonly SemaphoreSlim _passLock = new(1, 1);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITraceSink _trace;
    private long _heartbeatTicks;
    private int _backlog;
    private int _due;
    private string? _lastError;
    private DateTimeOffset _lastBacklogRefresh;

    public QueueRunner(IMailStore store, RempartOptions options, IOutboundTransport transport, TimeProvider time, ILoggerFactory loggerFactory, ITraceSink? trace = null)
    {
        _trace = trace ?? NoTraceSink.Instance;
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _store = store;
        _options = options;
        _transport = transport;
        _time = time;
        _logger = loggerFactory.CreateLogger<QueueRunner>();
        _dsn = new DsnSender(store, options, time, _logger, Wake);
        _slots = new SemaphoreSlim(Math.Max(1, options.Queue.Concurrency));
        _heartbeatTicks = time.GetUtcNow().UtcTicks;
    }

    /// <summary>When the runner last completed a scan (monitoring: a stale heartbeat means a stuck queue).</summary>
    public DateTimeOffset Heartbeat => new(Interlocked.Read(ref _heartbeatTicks), TimeSpan.Zero);

    /// <summary>Entries in the queue after the last scan.</summary>
    public int Backlog => Volatile.Read(ref _backlog);

    /// <summary>Entries that were due at the last scan.</summary>
    public int DueBacklog => Volatile.Read(ref _due);

    /// <summary>Deliveries running now.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>The last internal error of the runner itself (not a delivery failure), or null.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Liveness for the health model (set by the server): beats after every scan, fails when a scan throws.</summary>
    public WorkerHeartbeat? Liveness { get; set; }

    /// <summary>The longest the idle loop sleeps, i.e. how often a healthy runner beats.</summary>
    public static TimeSpan ExpectedBeatInterval => MaxIdleWait;

    /// <summary>Makes the worker scan now (new mail, admin retry).</summary>
    public void Wake() => _wake.TrySetResult();

    public async Task<IReadOnlyList<long>> EnqueueAsync(OutboundMessage message, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var ids = await _store.Queue.EnqueueAsync(message, ct);
        Interlocked.Add(ref _backlog, ids.Count);
        RempartMetrics.QueueDepth.Set(Backlog);
        Wake();
        return ids;
    }

    public async Task ReportDeliveredAsync(string sender, IReadOnlyList<QueueRecipient> recipients, BlobRef original, string? envelopeId, string? ret, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        var asked = recipients.Where(r => Notify.Wants(r.Notify, Notify.Success)).ToList();
        if (string.IsNullOrEmpty(sender) || asked.Count == 0)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var report = new DsnReport(sender, _options.HostName, now, now, envelopeId, ret,
            asked.Select(r => new DsnRecipient(r.Address, r.OriginalRecipient, DsnAction.Delivered, "2.0.0", LastAttempt: now)).ToList());
        await _dsn.SendAsync(report, original, ct);
    }

    /// <summary>
    /// The worker loop: starts due entries without waiting for them to finish (a slow host must not hold up new
    /// mail), then sleeps until woken (new mail, a delivery finished), the next entry is due, or 30 s pass.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var wake = Volatile.Read(ref _wake);
            if (wake.Task.IsCompleted)
            {
                Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
            }

            var wait = MaxIdleWait;
            try
            {
                var started = await StartDueAsync(wakeWhenDone: true, ct);
                if (_time.GetUtcNow() - _lastBacklogRefresh >= BacklogRefreshInterval || started.Count > 0)
                {
                    await RefreshBacklogAsync(ct);
                }

                Interlocked.Exchange(ref _heartbeatTicks, _time.GetUtcNow().UtcTicks);
                Liveness?.Beat(Backlog);
                wait = await NextWaitAsync(ct);
                Volatile.Write(ref _lastError, null);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The store may be briefly unavailable (disk full, locked); keep the worker alive and try again.
                Volatile.Write(ref _lastError, ex.Message);
                Liveness?.Failed(ex);
                LogRunnerError(_logger, ex);
                wait = TimeSpan.FromSeconds(5);
            }

            try
            {
                await Volatile.Read(ref _wake).Task.WaitAsync(wait, _time, ct);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
        }

        Liveness?.Stop();

        // Running deliveries observe the same token; give them a moment to record their outcome.
        for (var i = 0; i < 100 && !_inFlight.IsEmpty; i++)
        {
            await Task.Delay(50, CancellationToken.None);
        }
    }

    /// <summary>
    /// One scan that waits for its deliveries: starts every due entry (bounded by <see cref="QueueOptions.Concurrency"/>)
    /// and returns the number of entries attempted. Tests drive the queue with this and a manual clock.
    /// </summary>
    public async Task<int> ProcessDueAsync(CancellationToken ct = default)
    {
        await _passLock.WaitAsync(ct);
        try
        {
            var tasks = await StartDueAsync(wakeWhenDone: false, ct);
            await Task.WhenAll(tasks);
            await RefreshBacklogAsync(ct);
            Interlocked.Exchange(ref _heartbeatTicks, _time.GetUtcNow().UtcTicks);
            return tasks.Count;
        }
        finally
        {
            _passLock.Release();
        }
    }

    private async Task<List<Task>> StartDueAsync(bool wakeWhenDone, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var batch = Math.Max(64, _options.Queue.Concurrency * 4);
        var due = await _store.Queue.ListDueAsync(now, batch + _inFlight.Count, ct);
        Volatile.Write(ref _due, due.Count);
        var tasks = new List<Task>();
        foreach (var entry in due)
        {
            if (tasks.Count >= batch || !_inFlight.TryAdd(entry.Id, true))
            {
                continue;
            }

            try
            {
                await _slots.WaitAsync(ct);
            }
            catch
            {
                _inFlight.TryRemove(entry.Id, out _);
                throw;
            }

            tasks.Add(Task.Run(
                async () =>
                {
                    try
                    {
                        await AttemptAsync(entry, ct);
                    }
                    finally
                    {
                        _inFlight.TryRemove(entry.Id, out _);
                        _slots.Release();
                        if (wakeWhenDone)
                        {
                            Wake();
                        }
                    }
                },
                CancellationToken.None));
        }

        return tasks;
    }

    private async Task RefreshBacklogAsync(CancellationToken ct)
    {
        var all = await _store.Queue.ListAsync(ct);
        Volatile.Write(ref _backlog, all.Count);
        RempartMetrics.QueueDepth.Set(all.Count);
        _lastBacklogRefresh = _time.GetUtcNow();
    }

    /// <summary>Time until the earliest entry that is not being delivered now is due, capped at 30 s.</summary>
    private async Task<TimeSpan> NextWaitAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var upcoming = await _store.Queue.ListDueAsync(now + MaxIdleWait, _inFlight.Count + 1, ct);
        var next = upcoming.FirstOrDefault(e => !_inFlight.ContainsKey(e.Id));
        if (next is null)
        {
            return MaxIdleWait;
        }

        var wait = next.NextAttempt - now;
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }

    /// <summary>Delivers one entry and records the outcome; never throws except for cancellation.</summary>
    private async Task AttemptAsync(QueueEntry entry, CancellationToken ct)
    {
        DeliveryReport report;
        try
        {
            var request = new DeliveryRequest(entry.Domain, entry.Sender, entry.Recipients, () => _store.Blobs.Open(entry.Blob.Hash), entry.EnvelopeId, entry.Ret, entry.Route);
            report = await _transport.DeliverAsync(request, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            // A bug or a missing blob must not lose the entry: treat it as temporary and keep retrying until expiry.
            LogAttemptError(_logger, entry.Id, ex);
            report = DeliveryReport.All(entry.Recipients, RecipientOutcome.Temporary, 451, "4.3.0", "internal error: " + ex.Message);
        }

        try
        {
            await RecordAsync(entry, report, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Recording failed (store trouble): push the entry back so it is not retried in a tight loop; if even
            // that fails it stays due and the next scan tries again. Never deleted here, so nothing is lost.
            Volatile.Write(ref _lastError, ex.Message);
            LogAttemptError(_logger, entry.Id, ex);
            try
            {
                await _store.Queue.UpdateAsync(
                    entry with
                    {
                        Attempts = entry.Attempts + 1,
                        NextAttempt = _time.GetUtcNow() + Backoff(entry.Attempts + 1),
                        LastError = "internal error: " + ex.Message,
                    },
                    ct);
            }
            catch (Exception inner) when (inner is not OperationCanceledException)
            {
                LogAttemptError(_logger, entry.Id, inner);
            }
        }
    }

    private async Task RecordAsync(QueueEntry entry, DeliveryReport report, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var expires = ExpiryOf(entry);
        var byAddress = new Dictionary<string, RecipientResult>(StringComparer.OrdinalIgnoreCase);
        foreach (var result in report.Recipients)
        {
            byAddress.TryAdd(result.Address, result);
        }

        var delivered = new List<(QueueRecipient Recipient, RecipientResult Result)>();
        var failed = new List<(QueueRecipient Recipient, RecipientResult Result)>();
        var pending = new List<(QueueRecipient Recipient, RecipientResult Result)>();
        foreach (var recipient in entry.Recipients)
        {
            var result = byAddress.GetValueOrDefault(recipient.Address)
                ?? new RecipientResult(recipient.Address, RecipientOutcome.Temporary, 451, "4.4.0", "no result from the transport", false);
            switch (result.Outcome)
            {
                case RecipientOutcome.Delivered:
                    delivered.Add((recipient, result));
                    break;
                case RecipientOutcome.Permanent:
                    failed.Add((recipient, result));
                    break;
                default:
                    if (now >= expires)
                    {
                        // RFC 3463 4.4.7: delivery time expired; the last temporary reply stays as the diagnostic.
                        failed.Add((recipient, result with { Status = "4.4.7" }));
                    }
                    else
                    {
                        pending.Add((recipient, result));
                    }

                    break;
            }
        }

        // Message trace: queue entries trace under "queue:ID", which the SMTP "Queued" event names.
        var traceId = "queue:" + entry.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (r, result) in delivered)
        {
            _trace.Record(new TraceEvent(now, traceId, TraceEventKind.Relayed, entry.Sender, r.Address, null, null, (report.RemoteMta ?? "?") + ": " + result.Diagnostic));
        }

        foreach (var (r, result) in failed)
        {
            _trace.Record(new TraceEvent(now, traceId, TraceEventKind.Bounced, entry.Sender, r.Address, null, null, result.Diagnostic));
        }

        foreach (var (r, result) in pending)
        {
            _trace.Record(new TraceEvent(now, traceId, TraceEventKind.Deferred, entry.Sender, r.Address, null, null, result.Diagnostic));
        }

        if (delivered.Count > 0)
        {
            RempartMetrics.MessagesDelivered.WithLabels("remote").Inc(delivered.Count);
            LogDelivered(_logger, entry.Id, entry.Domain, delivered.Count, report.RemoteMta ?? "?");

            // RFC 3461 5.2.2.3/6.2.2.2: a peer with DSN support takes over NOTIFY=SUCCESS; otherwise we report "relayed".
            if (!report.PeerSupportsDsn)
            {
                var relayed = delivered.Where(d => Notify.Wants(d.Recipient.Notify, Notify.Success))
                    .Select(d => ToDsn(d.Recipient, d.Result, DsnAction.Relayed, report.RemoteMta, now, null)).ToList();
                await SendDsnAsync(entry, relayed, ct);
            }
        }

        if (failed.Count > 0)
        {
            LogBounced(_logger, entry.Id, entry.Domain, failed.Count, failed[0].Result.Diagnostic);
            var notices = failed.Where(f => Notify.Wants(f.Recipient.Notify, Notify.Failure))
                .Select(f => ToDsn(f.Recipient, f.Result, DsnAction.Failed, report.RemoteMta, now, null)).ToList();
            await SendDsnAsync(entry, notices, ct);
        }

        if (pending.Count == 0)
        {
            await _store.Queue.DeleteAsync(entry.Id, ct);
            return;
        }

        var delayNoticeSent = entry.DelayNoticeSent;
        if (!delayNoticeSent && now - entry.Created >= _options.Queue.DelayNoticeAfter)
        {
            var notices = pending.Where(p => Notify.Wants(p.Recipient.Notify, Notify.Delay))
                .Select(p => ToDsn(p.Recipient, p.Result, DsnAction.Delayed, report.RemoteMta, now, expires)).ToList();
            await SendDsnAsync(entry, notices, ct);
            delayNoticeSent = true;
            LogDelayNotice(_logger, entry.Id, entry.Domain, notices.Count);
        }

        var attempts = entry.Attempts + 1;
        var next = now + Backoff(attempts);
        if (next > expires)
        {
            // One last attempt exactly at expiry, after which the entry bounces.
            next = expires;
        }

        var lastError = pending[0].Result.Diagnostic;
        LogDeferred(_logger, entry.Id, entry.Domain, pending.Count, lastError, next);
        await _store.Queue.UpdateAsync(
            entry with
            {
                Recipients = pending.Select(p => p.Recipient).ToList(),
                Attempts = attempts,
                NextAttempt = next,
                Expires = expires,
                LastError = lastError,
                DelayNoticeSent = delayNoticeSent,
            },
            ct);
    }

    /// <summary>Releases the concurrency gates; call after <see cref="RunAsync"/> has returned.</summary>
    public void Dispose()
    {
        _slots.Dispose();
        _passLock.Dispose();
    }

    /// <summary>FirstRetryDelay, doubling per failed attempt, capped at MaxRetryDelay.</summary>
    public TimeSpan Backoff(int failedAttempts)
    {
        var first = _options.Queue.FirstRetryDelay;
        var max = _options.Queue.MaxRetryDelay;
        var exponent = Math.Clamp(failedAttempts - 1, 0, 30);
        var ticks = first.Ticks * Math.Pow(2, exponent);
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The configured lifetime counts from arrival; the store's own default expiry is only a fallback.</summary>
    private DateTimeOffset ExpiryOf(QueueEntry entry) => entry.Created + _options.Queue.Lifetime;

    private async Task SendDsnAsync(QueueEntry entry, List<DsnRecipient> recipients, CancellationToken ct)
    {
        // RFC 3461 6.2 / RFC 5321 6.1: never a DSN for the null sender, so bounces cannot loop.
        if (recipients.Count == 0 || string.IsNullOrEmpty(entry.Sender))
        {
            return;
        }

        var now = _time.GetUtcNow();
        try
        {
            await _dsn.SendAsync(new DsnReport(entry.Sender, _options.HostName, entry.Created, now, entry.EnvelopeId, entry.Ret, recipients), entry.Blob, ct);
        }
        catch (StoreException ex)
        {
            // The store refused the report for good (a malformed sender address): like a bounce that cannot be
            // delivered, it is dropped and logged, otherwise the entry could never leave the queue.
            LogDsnRefused(_logger, entry.Id, entry.Sender, ex.Message);
        }
    }

    private static DsnRecipient ToDsn(QueueRecipient recipient, RecipientResult result, DsnAction action, string? remoteMta, DateTimeOffset now, DateTimeOffset? retryUntil) =>
        new(recipient.Address, recipient.OriginalRecipient, action,
            action is DsnAction.Relayed or DsnAction.Delivered ? (result.Status.StartsWith('2') ? result.Status : "2.0.0") : result.Status,
            result.Diagnostic, result.FromRemote, result.FromRemote ? remoteMta : null, now, retryUntil);

    [LoggerMessage(EventId = (int)EventIds.QueueDelivered, Level = LogLevel.Information, Message = "Queue entry {Id} for {Domain}: {Count} recipient(s) delivered to {RemoteMta}")]
    private static partial void LogDelivered(ILogger logger, long id, string domain, int count, string remoteMta);

    [LoggerMessage(EventId = (int)EventIds.QueueDeferred, Level = LogLevel.Information, Message = "Queue entry {Id} for {Domain}: {Count} recipient(s) deferred ({Reason}); next attempt {Next:o}")]
    private static partial void LogDeferred(ILogger logger, long id, string domain, int count, string reason, DateTimeOffset next);

    [LoggerMessage(EventId = (int)EventIds.QueueBounced, Level = LogLevel.Warning, Message = "Queue entry {Id} for {Domain}: {Count} recipient(s) failed ({Reason})")]
    private static partial void LogBounced(ILogger logger, long id, string domain, int count, string reason);

    [LoggerMessage(EventId = (int)EventIds.QueueDelayNotice, Level = LogLevel.Information, Message = "Queue entry {Id} for {Domain}: delay notice for {Count} recipient(s)")]
    private static partial void LogDelayNotice(ILogger logger, long id, string domain, int count);

    [LoggerMessage(EventId = (int)EventIds.QueueDeferred, Level = LogLevel.Error, Message = "Queue entry {Id}: internal error during delivery")]
    private static partial void LogAttemptError(ILogger logger, long id, Exception ex);

    [LoggerMessage(EventId = (int)EventIds.QueueBounced, Level = LogLevel.Warning, Message = "Queue entry {Id}: DSN to {Sender} dropped: {Reason}")]
    private static partial void LogDsnRefused(ILogger logger, long id, string sender, string reason);

    [LoggerMessage(EventId = (int)EventIds.QueueDeferred, Level = LogLevel.Error, Message = "Queue runner scan failed")]
    private static partial void LogRunnerError(ILogger logger, Exception ex);
}

/// <summary>RFC 3461 4.1 NOTIFY semantics.</summary>
public static class Notify
{
    public const string Success = "SUCCESS";
    public const string Failure = "FAILURE";
    public const string Delay = "DELAY";

    /// <summary>
    /// Whether a DSN of <paramref name="kind"/> is wanted. Without NOTIFY the default is FAILURE plus DELAY
    /// (RFC 3461 4.1 leaves DELAY to the MTA); NEVER suppresses all.
    /// </summary>
    public static bool Wants(string? notify, string kind)
    {
        if (string.IsNullOrWhiteSpace(notify))
        {
            return kind is Failure or Delay;
        }

        foreach (var part in notify.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (string.Equals(part, kind, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
