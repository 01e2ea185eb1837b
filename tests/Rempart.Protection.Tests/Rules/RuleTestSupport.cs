using Microsoft.Extensions.Logging;
using Rempart.Protection.Rules;
using Rempart.Store;

namespace Rempart.Protection.Tests.Rules;

/// <summary>Builders shared by the rule tests.</summary>
internal static class RuleTestSupport
{
    public static TransportRule Rule(string name, string json, int priority = 10, bool enabled = true) =>
        RuleParser.Parse(new TransportRuleRecord(name, priority, enabled, json, DateTimeOffset.UnixEpoch));

    /// <summary>A rule with no conditions and the given actions (JSON object body), evaluated on a plain message.</summary>
    public static RuleOutcome Outcome(string actions) =>
        new RuleEngine([Rule("r", "{\"actions\": " + actions + "}")], new ListLogger()).Evaluate(Message());

    public static RuleMessage Message(
        string sender = "alice@example.com",
        string[]? recipients = null,
        string? from = null,
        string subject = "Hello",
        string body = "Just a note.",
        (string Name, string Value)[]? headers = null,
        RuleAttachment[]? attachments = null,
        long size = 1000,
        int scl = -1) => new()
        {
            Sender = sender,
            Recipients = recipients ?? ["bob@example.org"],
            FromHeader = from ?? (sender.Length > 0 ? sender : null),
            Subject = subject,
            BodyText = body,
            Headers = [.. (headers ?? []).Select(h => new KeyValuePair<string, string>(h.Name, h.Value))],
            Attachments = attachments ?? [],
            Size = size,
            Scl = scl,
            IsInternal = a => a.EndsWith("@example.com", StringComparison.OrdinalIgnoreCase) || a.EndsWith(".example.com", StringComparison.OrdinalIgnoreCase),
        };
}

/// <summary>Keeps every log entry, to check what the engine reported.</summary>
internal sealed class ListLogger : ILogger, ILoggerFactory
{
    public List<(LogLevel Level, EventId Id, string Message)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries)
        {
            Entries.Add((logLevel, eventId, formatter(state, exception)));
        }
    }

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// An in-memory <see cref="IProtectionStore"/> (rules only), for the cache tests: counts reads and can be told to fail.
/// </summary>
internal sealed class InMemoryRuleStore : IProtectionStore
{
    private readonly Dictionary<string, TransportRuleRecord> rules = new(StringComparer.OrdinalIgnoreCase);
    private long version;

    public int ListCalls { get; private set; }

    public bool Fail { get; set; }

    public Task<IReadOnlyList<TransportRuleRecord>> ListRulesAsync(CancellationToken ct = default)
    {
        ListCalls++;
        Check();
        return Task.FromResult<IReadOnlyList<TransportRuleRecord>>([.. rules.Values.OrderBy(r => r.Priority).ThenBy(r => r.Name, StringComparer.OrdinalIgnoreCase)]);
    }

    public Task<TransportRuleRecord> SaveRuleAsync(TransportRuleRecord rule, CancellationToken ct = default)
    {
        rules[rule.Name] = rule;
        version++;
        return Task.FromResult(rule);
    }

    public Task<bool> DeleteRuleAsync(string name, CancellationToken ct = default)
    {
        var removed = rules.Remove(name);
        version += removed ? 1 : 0;
        return Task.FromResult(removed);
    }

    public Task<long> GetRulesVersionAsync(CancellationToken ct = default)
    {
        Check();
        return Task.FromResult(version);
    }

    public Task<QuarantineRecord> AddQuarantineAsync(NewQuarantine entry, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<IReadOnlyList<QuarantineRecord>> ListQuarantineAsync(QuarantineQuery query, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<QuarantineRecord?> GetQuarantineAsync(long id, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<bool> MarkReleasedAsync(long id, string releasedBy, DateTimeOffset when, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<bool> DeleteQuarantineAsync(long id, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<int> ExpireQuarantineAsync(DateTimeOffset now, CancellationToken ct = default) => throw new NotSupportedException();

    public Task AppendTraceAsync(IReadOnlyList<TraceEvent> events, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<IReadOnlyList<TraceEvent>> QueryTraceAsync(TraceQuery query, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<int> PruneTraceAsync(DateTimeOffset before, CancellationToken ct = default) => throw new NotSupportedException();

    private void Check()
    {
        if (Fail)
        {
            throw new StoreException("store unavailable");
        }
    }
}
