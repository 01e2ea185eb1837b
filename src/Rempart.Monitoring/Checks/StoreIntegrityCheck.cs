using System.Globalization;
using Rempart.Monitoring.Health;
using Rempart.Store.Sqlite;

namespace Rempart.Monitoring.Checks;

/// <summary>Settings of <see cref="StoreIntegrityCheck"/> (the health options map onto it).</summary>
/// <param name="Interval">How often the health model runs the check.</param>
/// <param name="SampleSize">Blobs re-hashed per run; the sample rolls through the whole store in hash order.</param>
/// <param name="OrphanMinAge">A file nothing refers to counts as an orphan once this old (younger ones may be a delivery in progress).</param>
/// <param name="FullIntegrityCheck">integrity_check (compares every index with its table) instead of the faster quick_check on each run.</param>
/// <param name="MaxListed">How many damaged items a monitor's detail names.</param>
public sealed record StoreIntegrityOptions(
    TimeSpan Interval,
    int SampleSize = 200,
    TimeSpan OrphanMinAge = default,
    bool FullIntegrityCheck = false,
    int MaxListed = 5)
{
    /// <summary>Hourly, 200 blobs a run, orphans after one day.</summary>
    public static StoreIntegrityOptions Default { get; } = new(TimeSpan.FromHours(1), 200, TimeSpan.FromDays(1));

    internal TimeSpan EffectiveOrphanMinAge => OrphanMinAge > TimeSpan.Zero ? OrphanMinAge : TimeSpan.FromDays(1);
}

/// <summary>One damaged item found by the scrub or a check run.</summary>
/// <param name="Kind">"corrupt" (content no longer hashes to its name), "missing" (the row's file is gone), "database" or "orphan".</param>
/// <param name="Hash">The blob, for corrupt, missing and orphan.</param>
/// <param name="References">What refers to the blob: "account/folder/UID n", "queue #id", "quarantine #id".</param>
public sealed record StoreDamage(string Kind, string? Hash, string Detail, IReadOnlyList<string> References);

/// <summary>Where a scrub is.</summary>
public sealed record ScrubProgress(string Phase, long Done, long Total);

/// <summary>The result of a full scrub: database checks, every blob re-hashed, missing and orphan files.</summary>
public sealed record ScrubReport(
    long BlobsChecked,
    long FilesScanned,
    IReadOnlyList<StoreDamage> Damage,
    TimeSpan Duration)
{
    /// <summary>True when nothing is damaged; orphans alone are wasted space, not damage.</summary>
    public bool Clean => Damage.All(d => d.Kind == "orphan");
}

/// <summary>
/// Health set "store": monitors "sqlite" (quick_check or integrity_check + foreign_key_check), "blobs" (a rolling
/// sample re-hashed against the content address), "missing-blobs" (rows whose file is gone) and "orphan-blobs"
/// (files nothing refers to, older than <see cref="StoreIntegrityOptions.OrphanMinAge"/>: Warn, not Fail).
/// Everything runs on read connections and the file system, so mail keeps flowing while it runs.
/// </summary>
public sealed class StoreIntegrityCheck : IHealthCheck
{
    private const int Page = 500;
    private readonly SqliteMailStore _store;
    private readonly StoreIntegrityOptions _options;
    private readonly TimeProvider _time;
    private string? _cursor;

    public StoreIntegrityCheck(SqliteMailStore store, StoreIntegrityOptions? options = null, TimeProvider? time = null)
    {
        _store = store;
        _options = options ?? StoreIntegrityOptions.Default;
        _time = time ?? TimeProvider.System;
    }

    public string HealthSet => "store";

    public TimeSpan Interval => _options.Interval;

    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
    {
        // SQLite and file hashing are synchronous work: keep them off the caller's thread. The model never runs
        // one check twice at once; if something did, two samples would only overlap.
        return await Task.Run(() => RunCoreAsync(ct), ct);
    }

    private async Task<IReadOnlyList<CheckResult>> RunCoreAsync(CancellationToken ct)
    {
        var results = new List<CheckResult>(4);

        var dbProblems = await _store.CheckDatabaseAsync(_options.FullIntegrityCheck, _options.MaxListed, ct);
        var pragma = _options.FullIntegrityCheck ? "integrity_check" : "quick_check";
        results.Add(dbProblems.Count == 0
            ? new CheckResult("sqlite", CheckOutcome.Pass, pragma + " and foreign_key_check ok", 0)
            : new CheckResult("sqlite", CheckOutcome.Fail, string.Join("; ", dbProblems), dbProblems.Count));

        var (sampled, corrupt) = await SampleAsync(ct);
        results.Add(corrupt.Count == 0
            ? new CheckResult("blobs", CheckOutcome.Pass,
                string.Create(CultureInfo.InvariantCulture, $"{sampled} blobs re-hashed, all intact"), 0)
            : new CheckResult("blobs", CheckOutcome.Fail, Describe(corrupt, "damaged"), corrupt.Count));

        var (rows, missing) = await FindMissingAsync(null, ct);
        results.Add(missing.Count == 0
            ? new CheckResult("missing-blobs", CheckOutcome.Pass,
                string.Create(CultureInfo.InvariantCulture, $"all {rows} blob files present"), 0)
            : new CheckResult("missing-blobs", CheckOutcome.Fail, Describe(missing, "missing"), missing.Count));

        var (_, orphans) = await FindOrphansAsync(null, ct);
        results.Add(orphans.Count == 0
            ? new CheckResult("orphan-blobs", CheckOutcome.Pass, "no orphan blob files", 0)
            : new CheckResult("orphan-blobs", CheckOutcome.Warn, string.Create(CultureInfo.InvariantCulture,
                $"{orphans.Count} blob files nothing refers to, older than {_options.EffectiveOrphanMinAge.TotalHours:0} h (wasted space; the store sweeps them)"),
                orphans.Count));
        return results;
    }

    /// <summary>
    /// The full pass on demand: the database (integrity_check), every blob re-hashed, missing and orphan files.
    /// Damaged and missing blobs name the messages that refer to them.
    /// </summary>
    public async Task<ScrubReport> ScrubAllAsync(IProgress<ScrubProgress>? progress, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        var damage = new List<StoreDamage>();
        progress?.Report(new ScrubProgress("database", 0, 1));
        foreach (var problem in await Task.Run(() => _store.CheckDatabaseAsync(full: true, 1000, ct), ct))
        {
            damage.Add(new StoreDamage("database", null, problem, []));
        }

        progress?.Report(new ScrubProgress("database", 1, 1));
        var total = await _store.CountBlobsAsync(ct);
        long checkedCount = 0;
        string? after = null;
        while (true)
        {
            var page = await _store.ListBlobHashesAsync(after, Page, ct);
            if (page.Count == 0)
            {
                break;
            }

            var (_, bad) = await VerifyAsync(page, ct);
            damage.AddRange(bad);
            checkedCount += page.Count;
            after = page[^1];
            progress?.Report(new ScrubProgress("blobs", checkedCount, Math.Max(total, checkedCount)));
        }

        var (files, orphans) = await FindOrphansAsync(progress, ct);
        damage.AddRange(orphans);
        return new ScrubReport(checkedCount, files, damage, _time.GetElapsedTime(started));
    }

    /// <summary>Re-hashes the next <see cref="StoreIntegrityOptions.SampleSize"/> blobs after the cursor, wrapping at the end.</summary>
    private async Task<(int Sampled, List<StoreDamage> Corrupt)> SampleAsync(CancellationToken ct)
    {
        var wanted = Math.Max(1, _options.SampleSize);
        var sample = new List<string>(Math.Min(wanted, 10_000));
        var wrapped = false;
        while (sample.Count < wanted)
        {
            var page = await _store.ListBlobHashesAsync(_cursor, Math.Min(Page, wanted - sample.Count), ct);
            if (page.Count == 0)
            {
                _cursor = null;
                if (wrapped)
                {
                    break;
                }

                wrapped = true;
                continue;
            }

            sample.AddRange(page);
            _cursor = page[^1];
        }

        var distinct = sample.Distinct(StringComparer.Ordinal).ToList();
        var (_, bad) = await VerifyAsync(distinct, ct);
        return (distinct.Count, bad.Where(d => d.Kind == "corrupt").ToList());
    }

    /// <summary>Checks existence and content of each blob; a blob whose row vanished meanwhile (expunged) is not damage.</summary>
    private async Task<(int Checked, List<StoreDamage> Bad)> VerifyAsync(IReadOnlyList<string> hashes, CancellationToken ct)
    {
        var suspects = new List<(string Hash, string Kind)>();
        foreach (var hash in hashes)
        {
            ct.ThrowIfCancellationRequested();
            if (!_store.BlobFiles.Exists(hash))
            {
                suspects.Add((hash, "missing"));
            }
            else if (!await _store.BlobFiles.VerifyAsync(hash, ct))
            {
                suspects.Add((hash, "corrupt"));
            }
        }

        return (hashes.Count, await ConfirmAsync(suspects, ct));
    }

    private async Task<List<StoreDamage>> ConfirmAsync(List<(string Hash, string Kind)> suspects, CancellationToken ct)
    {
        var damage = new List<StoreDamage>();
        if (suspects.Count == 0)
        {
            return damage;
        }

        var known = await _store.KnownBlobHashesAsync(suspects.Select(s => s.Hash).ToList(), ct);
        foreach (var (hash, kind) in suspects)
        {
            if (!known.Contains(hash) || (kind == "missing" && _store.BlobFiles.Exists(hash)))
            {
                continue;
            }

            var references = await _store.DescribeBlobReferencesAsync(hash, 20, ct);
            var detail = kind == "missing"
                ? "blob file " + _store.BlobFiles.PathOf(hash) + " is missing"
                : "blob file " + _store.BlobFiles.PathOf(hash) + " no longer matches its hash";
            damage.Add(new StoreDamage(kind, hash, detail, references));
        }

        return damage;
    }

    /// <summary>Every row whose file is gone (a stat per row, no hashing).</summary>
    private async Task<(long Rows, List<StoreDamage> Missing)> FindMissingAsync(IProgress<ScrubProgress>? progress, CancellationToken ct)
    {
        var suspects = new List<(string Hash, string Kind)>();
        long rows = 0;
        string? after = null;
        while (true)
        {
            var page = await _store.ListBlobHashesAsync(after, Page, ct);
            if (page.Count == 0)
            {
                break;
            }

            rows += page.Count;
            after = page[^1];
            suspects.AddRange(page.Where(h => !_store.BlobFiles.Exists(h)).Select(h => (h, "missing")));
            progress?.Report(new ScrubProgress("missing", rows, rows));
        }

        return (rows, await ConfirmAsync(suspects, ct));
    }

    /// <summary>Files no row refers to, older than the orphan age.</summary>
    private async Task<(long Files, List<StoreDamage> Orphans)> FindOrphansAsync(IProgress<ScrubProgress>? progress, CancellationToken ct)
    {
        var cutoff = _time.GetUtcNow().UtcDateTime - _options.EffectiveOrphanMinAge;
        var orphans = new List<StoreDamage>();
        long files = 0;
        foreach (var chunk in _store.BlobFiles.EnumerateHashes().Chunk(Page))
        {
            ct.ThrowIfCancellationRequested();
            files += chunk.Length;
            var known = await _store.KnownBlobHashesAsync(chunk, ct);
            foreach (var hash in chunk)
            {
                if (known.Contains(hash))
                {
                    continue;
                }

                var path = _store.BlobFiles.PathOf(hash);
                var written = File.GetLastWriteTimeUtc(path);
                if (File.Exists(path) && written < cutoff)
                {
                    orphans.Add(new StoreDamage("orphan", hash, "blob file " + path + " is referred to by nothing", []));
                }
            }

            progress?.Report(new ScrubProgress("orphans", files, files));
        }

        return (files, orphans);
    }

    private string Describe(List<StoreDamage> damage, string what)
    {
        var listed = damage.Take(Math.Max(1, _options.MaxListed)).Select(d =>
            d.Hash![..12] + (d.References.Count == 0 ? " (unreferenced)" : " (" + string.Join(", ", d.References.Take(3)) + ")"));
        var more = damage.Count > _options.MaxListed ? ", …" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{damage.Count} blobs {what}: {string.Join("; ", listed)}{more}");
    }
}
