namespace Rempart.Backup.Snapshots;

public sealed record SnapshotDiffResult(IReadOnlyList<string> Lines, int Added, int Removed, int FlagsChanged, int FilesChanged);

/// <summary>What changed between two snapshots, by account/folder/UID (same UIDVALIDITY) and by file content.</summary>
public static class SnapshotDiff
{
    public static SnapshotDiffResult Compare(SnapshotManifest a, SnapshotManifest b)
    {
        var left = Index(a);
        var right = Index(b);
        var lines = new List<string>();
        int added = 0, removed = 0, flagged = 0, files = 0;
        foreach (var (key, m) in left.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (!right.TryGetValue(key, out var other))
            {
                lines.Add("- " + key);
                removed++;
            }
            else if (!string.Equals(m.Flags, other.Flags, StringComparison.Ordinal))
            {
                lines.Add($"M {key} flags ({m.Flags}) -> ({other.Flags})");
                flagged++;
            }
        }

        foreach (var key in right.Keys.Where(k => !left.ContainsKey(k)).Order(StringComparer.Ordinal))
        {
            lines.Add("+ " + key);
            added++;
        }

        var leftFiles = a.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var f in b.Files)
        {
            if (!leftFiles.TryGetValue(f.Path, out var old))
            {
                lines.Add("+ file " + f.Path);
                files++;
            }
            else if (!old.Chunks.SequenceEqual(f.Chunks, StringComparer.Ordinal))
            {
                lines.Add("M file " + f.Path);
                files++;
            }
        }

        foreach (var f in a.Files.Where(f => !b.Files.Any(x => x.Path == f.Path)))
        {
            lines.Add("- file " + f.Path);
            files++;
        }

        return new SnapshotDiffResult(lines, added, removed, flagged, files);
    }

    /// <summary>"alice@example.test/INBOX UID 7 (uidvalidity 123)" → message; a new UIDVALIDITY makes every message new.</summary>
    private static Dictionary<string, MessageEntry> Index(SnapshotManifest s)
    {
        var result = new Dictionary<string, MessageEntry>(StringComparer.Ordinal);
        var boxes = s.Mailboxes.ToDictionary(m => m.Id);
        var accounts = s.Accounts.ToDictionary(a => a.Id);
        foreach (var m in s.Messages)
        {
            if (boxes.TryGetValue(m.MailboxId, out var box) && accounts.TryGetValue(box.AccountId, out var account))
            {
                result[$"{account.Address}/{box.Name} UID {m.Uid} (uidvalidity {box.UidValidity})"] = m;
            }
        }

        return result;
    }
}
