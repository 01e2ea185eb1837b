using Microsoft.Extensions.Logging;
using Rempart.Store;

namespace Rempart.Protection.Rules;

/// <summary>
/// The rule set the server evaluates, read from the store and parsed again only when the store's rules version
/// changed (a CLI <c>rempart rule add</c> takes effect on the next message). A stored rule that does not parse is
/// skipped with an error log; a store that cannot be read keeps the previous set. Neither ever stops mail.
/// </summary>
public sealed class RuleSetCache : IDisposable
{
    private readonly IProtectionStore store;
    private readonly ILogger logger;
    private readonly ILogger engineLogger;
    private readonly SemaphoreSlim reload = new(1, 1);
    private volatile Loaded current = new(long.MinValue, RuleEngine.Empty);

    public RuleSetCache(IProtectionStore store, ILoggerFactory loggers)
    {
        this.store = store;
        logger = loggers.CreateLogger("Rempart.Protection.Rules.RuleSetCache");
        engineLogger = loggers.CreateLogger("Rempart.Protection.Rules.RuleEngine");
    }

    /// <summary>Version of the rules in the current engine (long.MinValue before the first load).</summary>
    public long Version => current.Version;

    public async Task<RuleEngine> GetAsync(CancellationToken ct = default)
    {
        var snapshot = current;
        long version;
        try
        {
            version = await store.GetRulesVersionAsync(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            RulesLog.RulesReloadFailed(logger, snapshot.Engine.Rules.Count, ex);
            return snapshot.Engine;
        }

        if (version == snapshot.Version)
        {
            return snapshot.Engine;
        }

        await reload.WaitAsync(ct);
        try
        {
            // Another caller may have loaded this version while we waited.
            if (current.Version == version)
            {
                return current.Engine;
            }

            IReadOnlyList<TransportRuleRecord> records;
            try
            {
                version = await store.GetRulesVersionAsync(ct);
                records = await store.ListRulesAsync(ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                RulesLog.RulesReloadFailed(logger, current.Engine.Rules.Count, ex);
                return current.Engine;
            }

            var rules = new List<TransportRule>();
            foreach (var record in records.Where(r => r.Enabled))
            {
                try
                {
                    rules.Add(RuleParser.Parse(record));
                }
                catch (RuleException ex)
                {
                    RulesLog.RuleInvalid(logger, record.Name, ex.Message);
                }
            }

            var engine = new RuleEngine(rules, engineLogger);
            current = new Loaded(version, engine);
            RulesLog.RulesReloaded(logger, rules.Count, records.Count, version);
            return engine;
        }
        finally
        {
            reload.Release();
        }
    }

    public void Dispose() => reload.Dispose();

    private sealed record Loaded(long Version, RuleEngine Engine);
}
