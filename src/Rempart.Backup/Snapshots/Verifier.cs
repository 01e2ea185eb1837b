using System.Security.Cryptography;
using Rempart.Backup.Repository;

namespace Rempart.Backup.Snapshots;

/// <summary>One damaged or missing chunk and what it takes with it.</summary>
/// <param name="Affected">"snapshot 1a2b3c4d: alice@example.test/INBOX UID 7" or "... file rempart.db".</param>
public sealed record DamagedChunk(string ChunkId, string Error, IReadOnlyList<string> Affected);

public sealed record VerifyReport(
    int Snapshots,
    long ReferencedChunks,
    long CheckedChunks,
    long CheckedBytes,
    long UnreferencedChunks,
    IReadOnlyList<DamagedChunk> Damaged,
    IReadOnlyList<string> SnapshotProblems)
{
    public bool Ok => Damaged.Count == 0 && SnapshotProblems.Count == 0;
}

/// <summary>
/// Checks a repository: every snapshot manifest authenticates and is self-consistent (each message's body is in its
/// index, each chunk it names exists), and every referenced chunk (or a random share) authenticates and matches its
/// id. A damaged chunk is mapped back to the messages and files of every snapshot that uses it.
/// </summary>
public sealed class Verifier(BackupRepository repository)
{
    public async Task<VerifyReport> VerifyAsync(double percent, IProgress<BackupProgress>? progress, CancellationToken ct)
    {
        if (percent is <= 0 or > 100)
        {
            throw new BackupException($"--percent must be above 0 and at most 100 (got {percent})");
        }

        var (snapshots, damagedManifests) = repository.ReadAllSnapshots();
        var problems = damagedManifests.Select(d => $"snapshot {d.Id[..8]}: {d.Error}").ToList();
        var users = new Dictionary<string, List<(SnapshotManifest Snapshot, string What)>>(StringComparer.Ordinal);
        foreach (var snapshot in snapshots)
        {
            CheckIndex(snapshot, problems);
            foreach (var file in snapshot.Files)
            {
                foreach (var chunk in file.Chunks)
                {
                    Use(users, chunk, snapshot, "file " + file.Path);
                }
            }

            foreach (var blob in snapshot.Blobs)
            {
                foreach (var chunk in blob.Chunks)
                {
                    Use(users, chunk, snapshot, "blob:" + blob.Hash);
                }
            }
        }

        var present = repository.ListChunkIds().ToHashSet(StringComparer.Ordinal);
        var all = users.Keys.Order(StringComparer.Ordinal).ToList();
        var selected = percent >= 100 ? all : Sample(all, percent);
        var damaged = new System.Collections.Concurrent.ConcurrentBag<DamagedChunk>();
        long checkedBytes = 0;
        long done = 0;

        // Missing chunks are found for all, whatever the percentage: a stat is cheap.
        foreach (var id in all.Where(i => !present.Contains(i)))
        {
            damaged.Add(new DamagedChunk(id, "missing", Describe(users[id])));
        }

        await Parallel.ForEachAsync(
            selected.Where(present.Contains),
            new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) },
            (id, _) =>
            {
                try
                {
                    var plain = repository.ReadChunk(id);
                    Interlocked.Add(ref checkedBytes, plain.Length);
                }
                catch (DamagedDataException ex)
                {
                    damaged.Add(new DamagedChunk(id, ex.Message, Describe(users[id])));
                }
                catch (IOException ex)
                {
                    damaged.Add(new DamagedChunk(id, "unreadable: " + ex.Message, Describe(users[id])));
                }

                var n = Interlocked.Increment(ref done);
                if (n % 64 == 0)
                {
                    progress?.Report(new BackupProgress("chunks", n, selected.Count));
                }

                return ValueTask.CompletedTask;
            });

        var unreferenced = present.Count(p => !users.ContainsKey(p));
        return new VerifyReport(snapshots.Count + damagedManifests.Count, all.Count, done, checkedBytes, unreferenced, [.. damaged.OrderBy(d => d.ChunkId, StringComparer.Ordinal)], problems);
    }

    private static void CheckIndex(SnapshotManifest snapshot, List<string> problems)
    {
        var blobs = snapshot.Blobs.Select(b => b.Hash).ToHashSet(StringComparer.Ordinal);
        var mailboxes = snapshot.Mailboxes.Select(m => m.Id).ToHashSet();
        var missing = new HashSet<string>(snapshot.Stats.MissingBlobs, StringComparer.Ordinal);
        foreach (var message in snapshot.Messages)
        {
            if (!blobs.Contains(message.Blob) && !missing.Contains(message.Blob))
            {
                problems.Add($"snapshot {snapshot.ShortId}: message UID {message.Uid} of folder {message.MailboxId} names body {message.Blob[..16]}, which the snapshot's index lacks");
            }

            if (!mailboxes.Contains(message.MailboxId))
            {
                problems.Add($"snapshot {snapshot.ShortId}: message UID {message.Uid} is in unknown folder {message.MailboxId}");
            }
        }

        if (snapshot.Kind == "server" && !snapshot.Files.Any(f => f.Path == SnapshotCreator.DatabaseName))
        {
            problems.Add($"snapshot {snapshot.ShortId}: the database copy is missing from the snapshot");
        }

        if (missing.Count > 0)
        {
            problems.Add($"snapshot {snapshot.ShortId}: {missing.Count} message bodies were deleted while it was taken (not restorable from it)");
        }

        foreach (var file in snapshot.Files)
        {
            if (file.Path.StartsWith('/') || file.Path.Split('/').Contains(".."))
            {
                problems.Add($"snapshot {snapshot.ShortId}: unsafe file path '{file.Path}'");
            }
        }
    }

    private static void Use(Dictionary<string, List<(SnapshotManifest, string)>> users, string chunk, SnapshotManifest snapshot, string what)
    {
        if (!users.TryGetValue(chunk, out var list))
        {
            users[chunk] = list = [];
        }

        list.Add((snapshot, what));
    }

    /// <summary>Turns "blob:HASH" uses into the messages that hold that body.</summary>
    private static List<string> Describe(List<(SnapshotManifest Snapshot, string What)> uses)
    {
        var result = new List<string>();
        foreach (var (snapshot, what) in uses)
        {
            if (!what.StartsWith("blob:", StringComparison.Ordinal))
            {
                result.Add($"snapshot {snapshot.ShortId}: {what}");
                continue;
            }

            var hash = what[5..];
            var messages = snapshot.Messages.Where(m => m.Blob == hash).ToList();
            if (messages.Count == 0)
            {
                result.Add($"snapshot {snapshot.ShortId}: queued message body {hash[..16]}");
            }

            foreach (var m in messages)
            {
                result.Add($"snapshot {snapshot.ShortId}: {MessageName(snapshot, m)}");
            }
        }

        return result;
    }

    /// <summary>"alice@example.test/INBOX UID 7".</summary>
    public static string MessageName(SnapshotManifest snapshot, MessageEntry message)
    {
        var mailbox = snapshot.Mailboxes.FirstOrDefault(b => b.Id == message.MailboxId);
        var account = mailbox is null ? null : snapshot.Accounts.FirstOrDefault(a => a.Id == mailbox.AccountId);
        return $"{account?.Address ?? "?"}/{mailbox?.Name ?? "?"} UID {message.Uid}";
    }

    private static List<string> Sample(List<string> all, double percent)
    {
        var count = (int)Math.Ceiling(all.Count * percent / 100.0);
        var copy = all.ToArray();
        RandomNumberGenerator.Shuffle(copy.AsSpan());
        return [.. copy.Take(count)];
    }
}
