using System.Text.Json;
using System.Text.Json.Serialization;
using Rempart.Backup.Repository;

namespace Rempart.Backup.Snapshots;

/// <summary>
/// One snapshot: the files it holds (each a list of chunk ids), the message bodies (blob hash → chunks, the index an
/// incremental run reuses) and a catalog of accounts, folders and messages read from the database copy, so browsing,
/// granular restore and "which messages does this damaged chunk hold" need no database restore. Version 2 writes it
/// as a small sealed header plus separately sealed binary sections (<see cref="ManifestFormat"/>), read only when a
/// property needs them; version 1 was one sealed JSON document, still read (docs/backup-format.md, "snapshots").
/// </summary>
public sealed class SnapshotManifest
{
    public const int CurrentVersion = ManifestFormat.Version;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private List<FileEntry>? _files;
    private List<BlobEntry>? _blobs;
    private List<AccountEntry>? _accounts;
    private List<MailboxEntry>? _mailboxes;
    private List<MessageEntry>? _messages;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>Random 32 hex digits; also the file name.</summary>
    public string Id { get; init; } = "";

    public DateTimeOffset Time { get; init; }

    public string Host { get; init; } = "";

    /// <summary>"server" for a Rempart data folder, "imap" for a copy of a remote IMAP account.</summary>
    public string Kind { get; init; } = "server";

    public string? Tag { get; init; }

    public List<FileEntry> Files { get => _files ??= Sections?.ReadFiles() ?? []; init => _files = value; }

    public List<BlobEntry> Blobs { get => _blobs ??= Sections?.ReadBlobs() ?? []; init => _blobs = value; }

    public List<AccountEntry> Accounts { get => _accounts ??= LoadDirectory().Accounts; init => _accounts = value; }

    public List<MailboxEntry> Mailboxes { get => _mailboxes ??= LoadDirectory().Mailboxes; init => _mailboxes = value; }

    public List<MessageEntry> Messages { get => _messages ??= Sections?.ReadMessages(null) ?? []; init => _messages = value; }

    /// <summary>Where a version-2 manifest's sections are read from on first use; null when built in memory or from JSON.</summary>
    [JsonIgnore]
    internal ManifestFormat.SectionReader? Sections { get; init; }

    /// <summary>
    /// The messages of some folders only, in folder then UID order. From a version-2 manifest this decodes just those
    /// folders' records (the others are skipped by length), which is what a granular restore needs.
    /// </summary>
    public List<MessageEntry> MessagesIn(IReadOnlySet<long> mailboxIds)
    {
        ArgumentNullException.ThrowIfNull(mailboxIds);
        return _messages is null && Sections is not null
            ? Sections.ReadMessages(mailboxIds)
            : [.. Messages.Where(m => mailboxIds.Contains(m.MailboxId))];
    }

    /// <summary>Reads every section now (a damaged one throws here).</summary>
    internal void LoadAll() => _ = (Files, Blobs, Accounts, Mailboxes, Messages);

    private (List<AccountEntry> Accounts, List<MailboxEntry> Mailboxes) LoadDirectory()
    {
        var directory = Sections?.ReadDirectory() ?? ([], []);
        _accounts ??= directory.Accounts;
        _mailboxes ??= directory.Mailboxes;
        return (_accounts, _mailboxes);
    }

    public SnapshotStats Stats { get; set; } = new();

    /// <summary>The version-1 JSON form (still read; written only by tests that build version-1 fixtures).</summary>
    internal byte[] SerializeJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <summary>A version-1 (JSON) manifest.</summary>
    public static SnapshotManifest Deserialize(ReadOnlySpan<byte> json, string id)
    {
        var manifest = Parse<SnapshotManifest>(json, id);
        Check(id, manifest?.Id, manifest?.Version ?? 0);
        return manifest!;
    }

    /// <summary>
    /// Only the header (version, id, time, host, kind, tag, stats), without the catalog arrays: what choosing a
    /// snapshot needs. The arrays are skipped by the parser, not built, which is most of the cost for a large server.
    /// </summary>
    public static SnapshotManifest DeserializeSummary(ReadOnlySpan<byte> json, string id)
    {
        var header = Parse<Header>(json, id);
        Check(id, header?.Id, header?.Version ?? 0);
        return new SnapshotManifest { Version = header!.Version, Id = header.Id, Time = header.Time, Host = header.Host, Kind = header.Kind, Tag = header.Tag, Stats = header.Stats };
    }

    private static T? Parse<T>(ReadOnlySpan<byte> json, string id)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json);
        }
        catch (JsonException ex)
        {
            throw new DamagedDataException($"snapshot manifest {id} is not valid: {ex.Message}", ex);
        }
    }

    internal static void Check(string id, string? named, int version)
    {
        if (!string.Equals(named, id, StringComparison.Ordinal))
        {
            throw new DamagedDataException($"snapshot manifest {id} does not name itself (moved or swapped)");
        }

        if (version is < 1 or > CurrentVersion)
        {
            throw new BackupException($"snapshot {id} has manifest version {version}; this Rempart reads up to {CurrentVersion}");
        }
    }

    private sealed record Header(int Version, string Id, DateTimeOffset Time, string Host, string Kind, string? Tag, SnapshotStats Stats);

    /// <summary>Short id shown to people (like git's abbreviated hashes).</summary>
    [JsonIgnore]
    public string ShortId => Id[..8];

    /// <summary>The time as a folder-name-friendly label, e.g. 2026-11-28T01-00.</summary>
    [JsonIgnore]
    public string Label => Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH-mm", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A file of the data folder, relative path with '/' separators.</summary>
/// <param name="Mode">Unix permission bits (DKIM private keys are 0600 and must stay so).</param>
public sealed record FileEntry(string Path, long Size, int Mode, List<string> Chunks);

/// <summary>A blob file as stored by the blob store (one zstd frame), by the SHA-256 of its uncompressed content.</summary>
/// <param name="Size">Size of the stored (compressed) file.</param>
public sealed record BlobEntry(string Hash, long Size, List<string> Chunks);

public sealed record AccountEntry(long Id, string Address);

public sealed record MailboxEntry(long Id, long AccountId, string Name, string? SpecialUse, long UidValidity, long UidNext);

/// <param name="InternalDate">Unix milliseconds.</param>
/// <param name="Flags">Space-separated, as stored.</param>
/// <param name="MessageId">Message-ID header (IMAP copies de-duplicate on it).</param>
public sealed record MessageEntry(long MailboxId, long Uid, string Blob, long Size, long InternalDate, string Flags, string? MessageId = null);

public sealed class SnapshotStats
{
    // Fields so parallel workers can add with Interlocked.
    internal long TotalBytesField;
    internal long ReadBytesField;
    internal long NewChunksField;
    internal long NewBytesField;
    internal long DeduplicatedBytesField;

    public long Files { get; set; }

    public long Blobs { get; set; }

    public long Messages { get; set; }

    /// <summary>Logical bytes in the snapshot (database copy + blob files + other files).</summary>
    public long TotalBytes { get => TotalBytesField; set => TotalBytesField = value; }

    /// <summary>Bytes read and chunked this run (blobs found in the previous snapshot are not read).</summary>
    public long ReadBytes { get => ReadBytesField; set => ReadBytesField = value; }

    public long NewChunks { get => NewChunksField; set => NewChunksField = value; }

    /// <summary>Encrypted bytes added to the repository.</summary>
    public long NewBytes { get => NewBytesField; set => NewBytesField = value; }

    /// <summary>Logical bytes that were already in the repository.</summary>
    public long DeduplicatedBytes { get => DeduplicatedBytesField; set => DeduplicatedBytesField = value; }

    public double DurationSeconds { get; set; }

    /// <summary>Blobs the database copy references that were gone from disk (deleted after the copy was taken).</summary>
    public List<string> MissingBlobs { get; init; } = [];
}
