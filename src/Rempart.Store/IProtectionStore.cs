namespace Rempart.Store;

/// <summary>
/// What the protection pipeline keeps in the store: mail-flow (transport) rules, the quarantine and the message
/// trace. Same durability contract as the rest of <see cref="IMailStore"/>.
/// </summary>
public interface IProtectionStore
{
    // ---------------------------------------------------------------- mail-flow rules

    /// <summary>Every rule, in evaluation order (priority ascending, then name).</summary>
    Task<IReadOnlyList<TransportRuleRecord>> ListRulesAsync(CancellationToken ct = default);

    /// <summary>Adds a rule or replaces the one with the same name (case-insensitive).</summary>
    Task<TransportRuleRecord> SaveRuleAsync(TransportRuleRecord rule, CancellationToken ct = default);

    /// <summary>Returns false when no rule has that name.</summary>
    Task<bool> DeleteRuleAsync(string name, CancellationToken ct = default);

    /// <summary>Increases whenever a rule is saved or deleted, so a server can reload only when it changed.</summary>
    Task<long> GetRulesVersionAsync(CancellationToken ct = default);

    // ---------------------------------------------------------------- quarantine

    /// <summary>Holds a message (its blob gains a reference, so it is kept until the entry goes).</summary>
    Task<QuarantineRecord> AddQuarantineAsync(NewQuarantine entry, CancellationToken ct = default);

    Task<IReadOnlyList<QuarantineRecord>> ListQuarantineAsync(QuarantineQuery query, CancellationToken ct = default);

    Task<QuarantineRecord?> GetQuarantineAsync(long id, CancellationToken ct = default);

    /// <summary>Marks an entry released (who, when); the caller delivers it. False when it is gone or was released.</summary>
    Task<bool> MarkReleasedAsync(long id, string releasedBy, DateTimeOffset when, CancellationToken ct = default);

    /// <summary>Removes the entry and drops its blob reference.</summary>
    Task<bool> DeleteQuarantineAsync(long id, CancellationToken ct = default);

    /// <summary>Removes entries whose expiry passed; returns how many.</summary>
    Task<int> ExpireQuarantineAsync(DateTimeOffset now, CancellationToken ct = default);

    // ---------------------------------------------------------------- message trace

    /// <summary>Appends trace events (batched with other writes; visible to queries once this returns).</summary>
    Task AppendTraceAsync(IReadOnlyList<TraceEvent> events, CancellationToken ct = default);

    /// <summary>Events matching the query, oldest first, at most <see cref="TraceQuery.Limit"/>.</summary>
    Task<IReadOnlyList<TraceEvent>> QueryTraceAsync(TraceQuery query, CancellationToken ct = default);

    /// <summary>Removes events older than <paramref name="before"/>; returns how many.</summary>
    Task<int> PruneTraceAsync(DateTimeOffset before, CancellationToken ct = default);
}
