using System.Globalization;
using Rempart.Backup.Repository;

namespace Rempart.Backup.Snapshots;

/// <summary>
/// Which snapshots to keep: the newest <see cref="Last"/>, plus the newest snapshot of each of the newest
/// <see cref="Hourly"/> hours, <see cref="Daily"/> days, <see cref="Weekly"/> ISO weeks and <see cref="Monthly"/>
/// months that have one (the rule restic and borg use, so operators know it). Times are UTC.
/// </summary>
public sealed record RetentionPolicy(int Last = 0, int Hourly = 0, int Daily = 0, int Weekly = 0, int Monthly = 0)
{
    public bool IsEmpty => Last <= 0 && Hourly <= 0 && Daily <= 0 && Weekly <= 0 && Monthly <= 0;

    /// <summary>Applied per source (the server, each IMAP account): a newer server snapshot never evicts an IMAP copy.</summary>
    public IReadOnlySet<string> SelectKept(IEnumerable<SnapshotManifest> snapshots)
    {
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in snapshots.GroupBy(s => s.Kind == "server" ? "server" : s.Kind + "|" + s.Host, StringComparer.Ordinal))
        {
            SelectKept(group, keep);
        }

        return keep;
    }

    private void SelectKept(IEnumerable<SnapshotManifest> snapshots, HashSet<string> keep)
    {
        var newestFirst = snapshots.OrderByDescending(s => s.Time).ThenByDescending(s => s.Id, StringComparer.Ordinal).ToList();
        foreach (var s in newestFirst.Take(Math.Max(0, Last)))
        {
            keep.Add(s.Id);
        }

        Bucket(newestFirst, Hourly, t => t.ToString("yyyy-MM-dd HH", CultureInfo.InvariantCulture), keep);
        Bucket(newestFirst, Daily, t => t.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), keep);
        Bucket(newestFirst, Weekly, t => $"{ISOWeek.GetYear(t)}-W{ISOWeek.GetWeekOfYear(t)}", keep);
        Bucket(newestFirst, Monthly, t => t.ToString("yyyy-MM", CultureInfo.InvariantCulture), keep);

        // Never leave a repository empty by accident: the newest snapshot always stays.
        if (newestFirst.Count > 0)
        {
            keep.Add(newestFirst[0].Id);
        }
    }

    private static void Bucket(List<SnapshotManifest> newestFirst, int count, Func<DateTime, string> period, HashSet<string> keep)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in newestFirst)
        {
            if (seen.Count >= count)
            {
                return;
            }

            if (seen.Add(period(s.Time.UtcDateTime)))
            {
                keep.Add(s.Id);
            }
        }
    }
}

public sealed record PruneReport(IReadOnlyList<SnapshotManifest> Removed, IReadOnlyList<SnapshotManifest> Kept, int RemovedChunks, long FreedBytes, bool DryRun);

/// <summary>
/// Forgets the snapshots the policy does not keep, then deletes the chunks no remaining snapshot references. Runs
/// under the exclusive repository lock, so no backup is writing chunks it has not yet named in a manifest.
/// Manifests go first: a crash between the two steps leaves only unreferenced chunks for the next prune.
/// </summary>
public sealed class Pruner(BackupRepository repository)
{
    public PruneReport Prune(RetentionPolicy policy, bool dryRun)
    {
        if (policy.IsEmpty)
        {
            throw new BackupException("no retention given: set at least one of --keep-last/--keep-hourly/--keep-daily/--keep-weekly/--keep-monthly (or backup.keep* in the configuration)");
        }

        if (!dryRun)
        {
            repository.RefuseIfAppendOnly("prune");
            repository.Lock(exclusive: true);
        }

        var (snapshots, damaged) = repository.ReadAllSnapshots();
        if (damaged.Count > 0)
        {
            // A manifest that cannot be read may reference chunks: deleting "unreferenced" ones could destroy it for good.
            throw new BackupException($"{damaged.Count} snapshot manifests cannot be read ({damaged[0].Error}); prune refuses to delete anything until verify is clean");
        }

        var kept = policy.SelectKept(snapshots);
        var removed = snapshots.Where(s => !kept.Contains(s.Id)).ToList();
        var keptList = snapshots.Where(s => kept.Contains(s.Id)).ToList();
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in keptList)
        {
            foreach (var f in s.Files)
            {
                referenced.UnionWith(f.Chunks);
            }

            foreach (var b in s.Blobs)
            {
                referenced.UnionWith(b.Chunks);
            }
        }

        var garbage = repository.ListChunkIds().Where(id => !referenced.Contains(id)).ToList();
        long freed = 0;
        foreach (var id in garbage)
        {
            try
            {
                freed += new FileInfo(repository.ChunkPath(id)).Length;
            }
            catch (FileNotFoundException)
            {
            }
        }

        if (!dryRun)
        {
            foreach (var s in removed)
            {
                repository.DeleteSnapshot(s.Id);
            }

            foreach (var id in garbage)
            {
                repository.DeleteChunk(id);
            }

            repository.SweepTemp();
        }

        return new PruneReport(removed, keptList, garbage.Count, freed, dryRun);
    }
}
