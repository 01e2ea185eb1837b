using System.Text;
using Rempart.Backup.Repository;
using Rempart.Store.Blobs;

namespace Rempart.Backup.Snapshots;

/// <summary>
/// The version-2 snapshot manifest file (docs/backup-format.md, "Snapshot manifest"):
/// <code>
/// "RBM2" | u32 LE header length | sealed header | sealed section | sealed section | ...
/// </code>
/// The header (id, time, host, kind, tag, stats and the section table) is small, so choosing a snapshot reads a few
/// hundred bytes of each file instead of decrypting and parsing whole catalogs; the binary sections (files, blobs,
/// directory, messages) are read on first use. Each part is sealed on its own with associated data
/// <c>"snapshot:" + id + ":" + part</c>, so parts cannot be swapped between places or snapshots, and the header's
/// section lengths (authenticated) detect truncation.
/// </summary>
public static class ManifestFormat
{
    public const int Version = 2;

    /// <summary>Magic + header length.</summary>
    public const int PrefixLength = 8;

    private const int MaxHeaderBytes = 16 * 1024 * 1024;
    private const string FilesSection = "files";
    private const string BlobsSection = "blobs";
    private const string DirectorySection = "directory";
    private const string MessagesSection = "messages";
    private const int HashBytes = 32;

    /// <summary>"RBM2": never a version-1 envelope, whose first byte is 1.</summary>
    public static ReadOnlySpan<byte> Magic => "RBM2"u8;

    public static bool HasMagic(ReadOnlySpan<byte> start) => start.StartsWith(Magic);

    /// <summary>Encodes and seals a manifest into the bytes of its file.</summary>
    public static byte[] Write(SnapshotManifest manifest, RepositoryKeys keys)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(keys);

        // Blob entries are hashes and chunk ids (random bytes): compressing them would cost time for nothing.
        var sections = new (string Name, byte[] Sealed)[]
        {
            (FilesSection, keys.Seal(Encode(w => WriteFiles(w, manifest.Files)), Ad(manifest.Id, FilesSection), compress: true)),
            (BlobsSection, keys.Seal(Encode(w => WriteBlobs(w, manifest.Blobs)), Ad(manifest.Id, BlobsSection), compress: false)),
            (DirectorySection, keys.Seal(Encode(w => WriteDirectory(w, manifest.Accounts, manifest.Mailboxes)), Ad(manifest.Id, DirectorySection), compress: true)),
            (MessagesSection, keys.Seal(Encode(w => WriteMessages(w, manifest.Messages)), Ad(manifest.Id, MessagesSection), compress: true)),
        };
        var header = keys.Seal(Encode(w => WriteHeader(w, manifest, sections)), Ad(manifest.Id, "header"), compress: true);
        using var output = new MemoryStream(PrefixLength + header.Length + sections.Sum(s => s.Sealed.Length));
        output.Write(Magic);
        Span<byte> length = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, header.Length);
        output.Write(length);
        output.Write(header);
        foreach (var (_, sealedSection) in sections)
        {
            output.Write(sealedSection);
        }

        return output.ToArray();
    }

    /// <summary>Reads a version-2 manifest's header; its sections are read from <paramref name="path"/> on first use.</summary>
    public static SnapshotManifest Read(string path, string id, RepositoryKeys keys)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var fileLength = RandomAccess.GetLength(file);
        Span<byte> prefix = stackalloc byte[PrefixLength];
        if (fileLength < PrefixLength || RandomAccess.Read(file, prefix, 0) != PrefixLength || !HasMagic(prefix))
        {
            throw new DamagedDataException($"snapshot manifest {id} is truncated or not a version-2 manifest");
        }

        var headerLength = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(prefix[4..]);
        if (headerLength is <= 0 or > MaxHeaderBytes || PrefixLength + (long)headerLength > fileLength)
        {
            throw new DamagedDataException($"snapshot manifest {id} is truncated (header of {headerLength} bytes in a {fileLength}-byte file)");
        }

        var sealedHeader = new byte[headerLength];
        RandomAccess.Read(file, sealedHeader, PrefixLength);
        var plain = Open(keys, sealedHeader, id, "header");
        var offset = PrefixLength + (long)headerLength;
        return Decode(plain, id, r =>
        {
            var version = (int)r.Read7BitEncodedInt64();
            var named = r.ReadString();
            SnapshotManifest.Check(id, named, version);
            var time = new DateTimeOffset(r.ReadInt64(), TimeSpan.FromMinutes(r.ReadInt16()));
            var host = r.ReadString();
            var kind = r.ReadString();
            var tag = ReadNullable(r);
            var stats = ReadStats(r);
            var count = Count(r);
            var table = new Dictionary<string, (long Offset, int Length)>(StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                var name = r.ReadString();
                var length = (int)r.Read7BitEncodedInt64();
                table[name] = (offset, length);
                offset += length;
            }

            if (offset != fileLength)
            {
                throw new DamagedDataException($"snapshot manifest {id} is {fileLength} bytes but its header accounts for {offset} (truncated or appended to)");
            }

            return new SnapshotManifest
            {
                Version = version,
                Id = named,
                Time = time,
                Host = host,
                Kind = kind,
                Tag = tag,
                Stats = stats,
                Sections = new SectionReader(path, id, keys, table),
            };
        });
    }

    /// <summary>Reads the sections of one version-2 manifest file on demand.</summary>
    internal sealed class SectionReader(string path, string id, RepositoryKeys keys, Dictionary<string, (long Offset, int Length)> table)
    {
        public List<FileEntry> ReadFiles() => Decode(Section(FilesSection), id, r =>
        {
            var files = new List<FileEntry>(Count(r));
            for (var i = files.Capacity; i > 0; i--)
            {
                files.Add(new FileEntry(r.ReadString(), r.Read7BitEncodedInt64(), (int)r.Read7BitEncodedInt64(), ReadIds(r)));
            }

            return files;
        });

        public List<BlobEntry> ReadBlobs() => Decode(Section(BlobsSection), id, r =>
        {
            var blobs = new List<BlobEntry>(Count(r));
            for (var i = blobs.Capacity; i > 0; i--)
            {
                blobs.Add(new BlobEntry(ReadHash(r), r.Read7BitEncodedInt64(), ReadIds(r)));
            }

            return blobs;
        });

        public (List<AccountEntry> Accounts, List<MailboxEntry> Mailboxes) ReadDirectory() => Decode(Section(DirectorySection), id, r =>
        {
            var accounts = new List<AccountEntry>(Count(r));
            for (var i = accounts.Capacity; i > 0; i--)
            {
                accounts.Add(new AccountEntry(r.Read7BitEncodedInt64(), r.ReadString()));
            }

            var mailboxes = new List<MailboxEntry>(Count(r));
            for (var i = mailboxes.Capacity; i > 0; i--)
            {
                mailboxes.Add(new MailboxEntry(r.Read7BitEncodedInt64(), r.Read7BitEncodedInt64(), r.ReadString(), ReadNullable(r), r.Read7BitEncodedInt64(), r.Read7BitEncodedInt64()));
            }

            return (accounts, mailboxes);
        });

        /// <summary>Every message, or only those of <paramref name="mailboxIds"/> (other folders skipped undecoded).</summary>
        public List<MessageEntry> ReadMessages(IReadOnlySet<long>? mailboxIds) => Decode(Section(MessagesSection), id, r =>
        {
            var messages = new List<MessageEntry>();
            var flags = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var groups = Count(r); groups > 0; groups--)
            {
                var mailboxId = r.Read7BitEncodedInt64();
                var count = Count(r);
                var bytes = r.Read7BitEncodedInt64();
                if (mailboxIds is not null && !mailboxIds.Contains(mailboxId))
                {
                    if (bytes < 0 || bytes > r.BaseStream.Length - r.BaseStream.Position)
                    {
                        throw new EndOfStreamException();
                    }

                    r.BaseStream.Position += bytes;
                    continue;
                }

                for (; count > 0; count--)
                {
                    var uid = r.Read7BitEncodedInt64();
                    var shape = r.ReadByte();
                    var blob = (shape & 2) != 0 ? r.ReadString() : ReadHash(r);
                    var size = r.Read7BitEncodedInt64();
                    var date = r.ReadInt64();
                    var flag = r.ReadString();

                    // Flags repeat ("\Seen" thousands of times): one string each.
                    if (!flags.TryGetValue(flag, out var shared))
                    {
                        flags[flag] = shared = flag;
                    }

                    var messageId = (shape & 1) != 0 ? r.ReadString() : null;
                    messages.Add(new MessageEntry(mailboxId, uid, blob, size, date, shared, messageId));
                }
            }

            return messages;
        });

        private byte[] Section(string name)
        {
            if (!table.TryGetValue(name, out var place))
            {
                throw new DamagedDataException($"snapshot manifest {id} has no {name} section");
            }

            var sealedBytes = new byte[place.Length];
            using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                if (RandomAccess.Read(file, sealedBytes, place.Offset) != place.Length)
                {
                    throw new DamagedDataException($"snapshot manifest {id} is truncated in its {name} section");
                }
            }

            return Open(keys, sealedBytes, id, name);
        }
    }

    private static byte[] Ad(string id, string part) => Encoding.ASCII.GetBytes("snapshot:" + id + ":" + part);

    private static byte[] Open(RepositoryKeys keys, byte[] sealedBytes, string id, string part)
    {
        try
        {
            return keys.Open(sealedBytes, Ad(id, part));
        }
        catch (DamagedDataException ex)
        {
            throw new DamagedDataException($"snapshot manifest {id} ({part}): {ex.Message}", ex);
        }
    }

    private static byte[] Encode(Action<BinaryWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            write(writer);
        }

        return buffer.ToArray();
    }

    private static T Decode<T>(byte[] plain, string id, Func<BinaryReader, T> read)
    {
        using var reader = new BinaryReader(new MemoryStream(plain, writable: false), Encoding.UTF8);
        try
        {
            var value = read(reader);
            if (reader.BaseStream.Position != plain.Length)
            {
                throw new DamagedDataException($"snapshot manifest {id}: {plain.Length - reader.BaseStream.Position} bytes left over in a section");
            }

            return value;
        }
        catch (Exception ex) when (ex is EndOfStreamException or FormatException or ArgumentOutOfRangeException or DecoderFallbackException)
        {
            throw new DamagedDataException($"snapshot manifest {id} is not valid: {ex.Message}", ex);
        }
    }

    /// <summary>A count that cannot exceed what is left (so a bad count fails instead of allocating gigabytes).</summary>
    private static int Count(BinaryReader r)
    {
        var count = r.Read7BitEncodedInt64();
        return count < 0 || count > r.BaseStream.Length - r.BaseStream.Position ? throw new EndOfStreamException($"count {count} beyond the section") : (int)count;
    }

    private static void WriteHeader(BinaryWriter w, SnapshotManifest m, (string Name, byte[] Sealed)[] sections)
    {
        w.Write7BitEncodedInt64(Version);
        w.Write(m.Id);
        w.Write(m.Time.Ticks);
        w.Write((short)m.Time.Offset.TotalMinutes);
        w.Write(m.Host);
        w.Write(m.Kind);
        WriteNullable(w, m.Tag);
        var s = m.Stats;
        foreach (var value in (long[])[s.Files, s.Blobs, s.Messages, s.TotalBytes, s.ReadBytes, s.NewChunks, s.NewBytes, s.DeduplicatedBytes])
        {
            w.Write7BitEncodedInt64(value);
        }

        w.Write(s.DurationSeconds);
        w.Write7BitEncodedInt64(s.MissingBlobs.Count);
        foreach (var missing in s.MissingBlobs)
        {
            w.Write(missing);
        }

        w.Write7BitEncodedInt64(sections.Length);
        foreach (var (name, sealedSection) in sections)
        {
            w.Write(name);
            w.Write7BitEncodedInt64(sealedSection.Length);
        }
    }

    private static SnapshotStats ReadStats(BinaryReader r)
    {
        var stats = new SnapshotStats
        {
            Files = r.Read7BitEncodedInt64(),
            Blobs = r.Read7BitEncodedInt64(),
            Messages = r.Read7BitEncodedInt64(),
            TotalBytes = r.Read7BitEncodedInt64(),
            ReadBytes = r.Read7BitEncodedInt64(),
            NewChunks = r.Read7BitEncodedInt64(),
            NewBytes = r.Read7BitEncodedInt64(),
            DeduplicatedBytes = r.Read7BitEncodedInt64(),
            DurationSeconds = r.ReadDouble(),
        };
        for (var i = Count(r); i > 0; i--)
        {
            stats.MissingBlobs.Add(r.ReadString());
        }

        return stats;
    }

    private static void WriteFiles(BinaryWriter w, List<FileEntry> files)
    {
        w.Write7BitEncodedInt64(files.Count);
        foreach (var f in files)
        {
            w.Write(f.Path);
            w.Write7BitEncodedInt64(f.Size);
            w.Write7BitEncodedInt64(f.Mode);
            WriteIds(w, f.Chunks);
        }
    }

    private static void WriteBlobs(BinaryWriter w, List<BlobEntry> blobs)
    {
        w.Write7BitEncodedInt64(blobs.Count);
        foreach (var b in blobs)
        {
            WriteHash(w, b.Hash);
            w.Write7BitEncodedInt64(b.Size);
            WriteIds(w, b.Chunks);
        }
    }

    private static void WriteDirectory(BinaryWriter w, List<AccountEntry> accounts, List<MailboxEntry> mailboxes)
    {
        w.Write7BitEncodedInt64(accounts.Count);
        foreach (var a in accounts)
        {
            w.Write7BitEncodedInt64(a.Id);
            w.Write(a.Address);
        }

        w.Write7BitEncodedInt64(mailboxes.Count);
        foreach (var m in mailboxes)
        {
            w.Write7BitEncodedInt64(m.Id);
            w.Write7BitEncodedInt64(m.AccountId);
            w.Write(m.Name);
            WriteNullable(w, m.SpecialUse);
            w.Write7BitEncodedInt64(m.UidValidity);
            w.Write7BitEncodedInt64(m.UidNext);
        }
    }

    /// <summary>Grouped by folder (in first-seen order), each group prefixed by its byte length so readers can skip it.</summary>
    private static void WriteMessages(BinaryWriter w, List<MessageEntry> messages)
    {
        var groups = messages.GroupBy(m => m.MailboxId).ToList();
        w.Write7BitEncodedInt64(groups.Count);
        using var group = new MemoryStream();
        using var g = new BinaryWriter(group, Encoding.UTF8, leaveOpen: true);
        foreach (var box in groups)
        {
            group.SetLength(0);
            var count = 0;
            foreach (var m in box)
            {
                var hashShaped = FileBlobStore.IsValidHash(m.Blob);
                g.Write7BitEncodedInt64(m.Uid);
                g.Write((byte)((m.MessageId is null ? 0 : 1) | (hashShaped ? 0 : 2)));
                if (hashShaped)
                {
                    WriteHash(g, m.Blob);
                }
                else
                {
                    g.Write(m.Blob);
                }

                g.Write7BitEncodedInt64(m.Size);
                g.Write(m.InternalDate);
                g.Write(m.Flags);
                if (m.MessageId is not null)
                {
                    g.Write(m.MessageId);
                }

                count++;
            }

            g.Flush();
            w.Write7BitEncodedInt64(box.Key);
            w.Write7BitEncodedInt64(count);
            w.Write7BitEncodedInt64(group.Length);
            w.Write(group.GetBuffer(), 0, (int)group.Length);
        }
    }

    private static void WriteNullable(BinaryWriter w, string? value)
    {
        w.Write(value is not null);
        if (value is not null)
        {
            w.Write(value);
        }
    }

    private static string? ReadNullable(BinaryReader r) => r.ReadBoolean() ? r.ReadString() : null;

    /// <summary>Chunk ids and blob hashes (64 lower-case hex digits) as their 32 bytes.</summary>
    private static void WriteHash(BinaryWriter w, string hex)
    {
        Span<byte> bytes = stackalloc byte[HashBytes];
        if (hex.Length != 2 * HashBytes || Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != HashBytes)
        {
            throw new BackupException($"not a 64-digit hex id in a manifest: '{hex}'");
        }

        w.Write(bytes);
    }

    private static string ReadHash(BinaryReader r)
    {
        Span<byte> bytes = stackalloc byte[HashBytes];
        r.BaseStream.ReadExactly(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    private static void WriteIds(BinaryWriter w, List<string> ids)
    {
        w.Write7BitEncodedInt64(ids.Count);
        foreach (var id in ids)
        {
            WriteHash(w, id);
        }
    }

    private static List<string> ReadIds(BinaryReader r)
    {
        var count = r.Read7BitEncodedInt64();
        if (count < 0 || count * HashBytes > r.BaseStream.Length - r.BaseStream.Position)
        {
            throw new EndOfStreamException($"{count} chunk ids beyond the section");
        }

        var ids = new List<string>((int)count);
        for (var i = 0; i < count; i++)
        {
            ids.Add(ReadHash(r));
        }

        return ids;
    }
}
