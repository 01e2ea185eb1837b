using System.Globalization;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Protection.Quarantine;

/// <summary>
/// Holds, releases, deletes and previews quarantined messages (docs/protection/quarantine.md). The store keeps the
/// entries (each holds a reference to its body blob); this class adds retention, delivery on release, the trace
/// events and the logs. Used by the SMTP path (hold) and by the admin CLI (list, show, release, delete), which may
/// run in another process against the same store.
/// </summary>
public sealed partial class QuarantineService : IDisposable
{
    private readonly IMailStore _store;
    private readonly QuarantineOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ITraceSink? _trace;

    // Serializes releases in this process, so two concurrent releases of one entry cannot both deliver.
    private readonly SemaphoreSlim _releaseLock = new(1, 1);

    /// <param name="trace">When given (the server's TraceRecorder), trace events go through its buffer; else they are written directly (the CLI).</param>
    public QuarantineService(IMailStore store, QuarantineOptions options, ILogger logger, TimeProvider? time = null, ITraceSink? trace = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _store = store;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _trace = trace;
    }

    /// <summary>
    /// Holds a message: its blob gains a reference, and one <see cref="TraceEventKind.Quarantined"/> event per
    /// recipient is traced. An <see cref="NewQuarantine.Expires"/> left at its default becomes
    /// <see cref="NewQuarantine.Received"/> + <see cref="QuarantineOptions.Retention"/>.
    /// </summary>
    public async Task<QuarantineRecord> HoldAsync(NewQuarantine entry, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var received = entry.Received == default ? _time.GetUtcNow() : entry.Received;
        var expires = entry.Expires == default ? received + _options.Retention : entry.Expires;
        var held = await _store.Protection.AddQuarantineAsync(entry with { Received = received, Expires = expires }, ct);
        var traceId = TraceIdOf(held);
        var detail = $"{held.Category}: {held.Reason} (quarantine id {held.Id.ToString(CultureInfo.InvariantCulture)})";
        await TraceAsync(
            held.Recipients.Select(r => new TraceEvent(_time.GetUtcNow(), traceId, TraceEventKind.Quarantined, held.Sender, r, held.MessageId, null, detail, held.Subject)).ToList(),
            ct);
        RempartMetrics.QuarantineActions.WithLabels("held", held.Category).Inc();
        LogHeld(_logger, held.Id, held.Category, held.Reason, held.Sender, held.Recipients.Count);
        return held;
    }

    /// <summary>Entries newest first; released ones only with <see cref="QuarantineQuery.IncludeReleased"/>.</summary>
    public Task<IReadOnlyList<QuarantineRecord>> ListAsync(QuarantineQuery query, CancellationToken ct = default) =>
        _store.Protection.ListQuarantineAsync(query, ct);

    public Task<QuarantineRecord?> GetAsync(long id, CancellationToken ct = default) => _store.Protection.GetQuarantineAsync(id, ct);

    /// <summary>
    /// Delivers a held message to its recipients as they resolve now: local accounts get it in their INBOX (quota
    /// applies), remote recipients and external forwards go to the outbound queue. The entry is then marked
    /// released (it stays listed with <c>--all</c> until it expires). Refused with <see cref="QuarantineException"/>
    /// when the entry does not exist, was released already, or no recipient could take it (the entry stays held).
    /// </summary>
    public async Task<ReleaseResult> ReleaseAsync(long id, string by, CancellationToken ct = default)
    {
        var releasedBy = string.IsNullOrWhiteSpace(by) ? "unknown" : by.Trim();
        await _releaseLock.WaitAsync(ct);
        try
        {
            var entry = await _store.Protection.GetQuarantineAsync(id, ct) ?? throw NotFound(id);
            if (entry.Released is { } when)
            {
                throw new QuarantineException(
                    $"quarantine entry {Id(id)} was already released on {When(when)} by {entry.ReleasedBy ?? "unknown"}; a message is released once (delete the entry with: rempart quarantine delete {Id(id)})");
            }

            var now = _time.GetUtcNow();
            var destinations = await DeliverAsync(entry, now, ct);
            var result = new ReleaseResult(id, now, releasedBy, destinations);
            if (!result.AnyDelivered)
            {
                throw new QuarantineException(
                    $"quarantine entry {Id(id)} was not released: no recipient could take it ({string.Join("; ", destinations.Select(d => d.Recipient + ": " + d.Where))}); it stays in quarantine");
            }

            // Delivered first, marked after: if the mark fails, a second release delivers twice, which beats losing
            // the message. Another process releasing the same entry at the same moment is the only other way.
            if (!await _store.Protection.MarkReleasedAsync(id, releasedBy, now, ct))
            {
                LogReleaseRace(_logger, id);
            }

            var traceId = TraceIdOf(entry);
            await TraceAsync(
                destinations.Select(d => new TraceEvent(now, traceId, TraceEventKind.Released, entry.Sender, d.Recipient, entry.MessageId, null, $"released by {releasedBy}: {d.Where}", entry.Subject)).ToList(),
                ct);
            RempartMetrics.QuarantineActions.WithLabels("released", entry.Category).Inc();
            LogReleased(_logger, id, releasedBy, entry.Category, string.Join("; ", destinations.Select(d => d.Recipient + " -> " + d.Where)));
            return result;
        }
        finally
        {
            _releaseLock.Release();
        }
    }

    /// <summary>Deletes an entry (its body goes when nothing else refers to it). False when there is no such entry.</summary>
    public async Task<bool> DeleteAsync(long id, string by, CancellationToken ct = default)
    {
        var entry = await _store.Protection.GetQuarantineAsync(id, ct);
        if (entry is null || !await _store.Protection.DeleteQuarantineAsync(id, ct))
        {
            return false;
        }

        RempartMetrics.QuarantineActions.WithLabels("deleted", entry.Category).Inc();
        LogDeleted(_logger, id, string.IsNullOrWhiteSpace(by) ? "unknown" : by.Trim(), entry.Category);
        return true;
    }

    /// <summary>A safe preview (see <see cref="QuarantinePreview"/>), or null when there is no such entry.</summary>
    public async Task<QuarantinePreview?> PreviewAsync(long id, int maxBodyChars = QuarantinePreviewer.DefaultMaxBodyChars, CancellationToken ct = default)
    {
        var entry = await _store.Protection.GetQuarantineAsync(id, ct);
        if (entry is null)
        {
            return null;
        }

        await using var content = _store.Blobs.Open(entry.Blob.Hash);
        return await QuarantinePreviewer.BuildAsync(entry, content, maxBodyChars, ct);
    }

    /// <summary>Removes expired entries and trace events older than the trace retention; returns both counts.</summary>
    public async Task<(int Expired, int TracePruned)> SweepAsync(CancellationToken ct = default)
    {
        var now = _time.GetUtcNow();
        var expired = await _store.Protection.ExpireQuarantineAsync(now, ct);
        var pruned = await _store.Protection.PruneTraceAsync(now - _options.TraceRetention, ct);
        if (expired > 0)
        {
            RempartMetrics.QuarantineActions.WithLabels("expired", "any").Inc(expired);
        }

        if (expired > 0 || pruned > 0)
        {
            LogSwept(_logger, expired, pruned);
        }

        return (expired, pruned);
    }

    public void Dispose() => _releaseLock.Dispose();

    /// <summary>The trace id of an entry's events: the SMTP queue id it was held under, else "Q" and its id.</summary>
    public static string TraceIdOf(QuarantineRecord entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.TraceId ?? "Q" + Id(entry.Id);
    }

    private async Task<List<ReleaseDestination>> DeliverAsync(QuarantineRecord entry, DateTimeOffset now, CancellationToken ct)
    {
        var destinations = new List<ReleaseDestination>();
        var accountFor = new Dictionary<long, string>();
        var remote = new List<(string Recipient, string Address)>();
        foreach (var recipient in entry.Recipients)
        {
            var resolution = await _store.Directory.ResolveRecipientAsync(recipient, ct);
            switch (resolution.Status)
            {
                case RecipientStatus.Local:
                    foreach (var account in resolution.AccountIds)
                    {
                        accountFor.TryAdd(account, recipient);
                    }

                    remote.AddRange(resolution.ForwardTo.Select(f => (recipient, f)));
                    if (resolution.AccountIds.Count == 0 && resolution.ForwardTo.Count == 0)
                    {
                        destinations.Add(new ReleaseDestination(recipient, ReleaseOutcome.Unknown, "the address leads nowhere now"));
                    }

                    break;
                case RecipientStatus.Remote:
                    remote.Add((recipient, recipient));
                    break;
                case RecipientStatus.Disabled:
                    destinations.Add(new ReleaseDestination(recipient, ReleaseOutcome.Disabled, "the account is disabled"));
                    break;
                default:
                    destinations.Add(new ReleaseDestination(recipient, ReleaseOutcome.Unknown, "no such address here any more"));
                    break;
            }
        }

        if (accountFor.Count > 0)
        {
            var results = await _store.Messages.DeliverAsync(entry.Blob, accountFor.Keys.Select(a => new DeliveryTarget(a)).ToList(), entry.Received, ct);
            foreach (var r in results)
            {
                var recipient = accountFor[r.AccountId];
                var address = (await _store.Directory.GetAccountAsync(r.AccountId, ct))?.Address ?? "account " + Id(r.AccountId);
                destinations.Add(r.Outcome switch
                {
                    DeliveryOutcome.Stored => new ReleaseDestination(recipient, ReleaseOutcome.Delivered, $"INBOX of {address} (UID {Id(r.Uid)})"),
                    DeliveryOutcome.OverQuota => new ReleaseDestination(recipient, ReleaseOutcome.OverQuota, $"{address} is over quota; not stored"),
                    _ => new ReleaseDestination(recipient, ReleaseOutcome.Unknown, $"{address} no longer exists"),
                });
            }
        }

        var distinctRemote = remote.DistinctBy(r => r.Address.ToLowerInvariant()).ToList();
        if (distinctRemote.Count > 0)
        {
            var ids = await _store.Queue.EnqueueAsync(
                new OutboundMessage(entry.Sender, distinctRemote.Select(r => new QueueRecipient(r.Address)).ToList(), entry.Blob, now), ct);
            var idText = string.Join(", ", ids.Select(Id));
            foreach (var (recipient, address) in distinctRemote)
            {
                destinations.Add(new ReleaseDestination(recipient, ReleaseOutcome.Queued, $"outbound queue for {address} (entry {idText})"));
            }
        }

        return destinations;
    }

    private async Task TraceAsync(List<TraceEvent> events, CancellationToken ct)
    {
        if (events.Count == 0)
        {
            return;
        }

        if (_trace is not null)
        {
            foreach (var e in events)
            {
                _trace.Record(e);
            }

            return;
        }

        await _store.Protection.AppendTraceAsync(events, ct);
    }

    private static QuarantineException NotFound(long id) =>
        new($"no quarantine entry {Id(id)} (it may have expired or been deleted); list entries with: rempart quarantine list");

    private static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    private static string When(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = (int)EventIds.QuarantineHeld, Level = LogLevel.Information, Message = "Quarantined message {Id} ({Category}: {Reason}) from {Sender} for {Recipients} recipients")]
    private static partial void LogHeld(ILogger logger, long id, string category, string reason, string sender, int recipients);

    [LoggerMessage(EventId = (int)EventIds.QuarantineReleased, Level = LogLevel.Information, Message = "Quarantine entry {Id} ({Category}) released by {By}: {Destinations}")]
    private static partial void LogReleased(ILogger logger, long id, string by, string category, string destinations);

    [LoggerMessage(EventId = (int)EventIds.QuarantineReleased, Level = LogLevel.Warning, Message = "Quarantine entry {Id} was released by someone else while this release delivered it; it may have been delivered twice")]
    private static partial void LogReleaseRace(ILogger logger, long id);

    [LoggerMessage(EventId = (int)EventIds.QuarantineDeleted, Level = LogLevel.Information, Message = "Quarantine entry {Id} ({Category}) deleted by {By}")]
    private static partial void LogDeleted(ILogger logger, long id, string by, string category);

    [LoggerMessage(EventId = (int)EventIds.QuarantineSwept, Level = LogLevel.Information, Message = "Quarantine sweep: {Expired} expired entries deleted, {Pruned} old trace events pruned")]
    private static partial void LogSwept(ILogger logger, int expired, int pruned);
}
