using System.Buffers.Binary;
using System.IO.Compression;
using MimeKit;
using MimeKit.Tnef;
using Rempart.Common.Configuration;

namespace Rempart.Antivirus;

/// <summary>
/// The attachment policy. Walks every MIME part (nested multiparts, attached messages, TNEF winmail.dat), finds
/// each part's real type from its content, opens ZIP archives to a bounded depth and size, and decides: blocked
/// types and zip bombs are rejected; macro documents, encrypted and unscannable archives follow their policy keys.
/// Needs no scanner, so it applies on a first run too.
/// </summary>
public sealed class AttachmentInspector
{
    /// <summary>Entries this large or larger are checked against <see cref="AntivirusOptions.MaxCompressionRatio"/>:
    /// a small text file of one repeated byte compresses 1000:1 and is harmless.</summary>
    internal const long RatioCheckThreshold = 1024 * 1024;

    private readonly AntivirusOptions _options;
    private readonly HashSet<string> _blocked;

    /// <summary>
    /// MimeKit reads TNEF (and legacy charsets) through Windows code pages, which .NET only has once the code-pages
    /// provider is registered; without it TnefPropertyReader's type initializer fails for the life of the process.
    /// Registering twice is harmless.
    /// </summary>
    static AttachmentInspector() => System.Text.Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance);

    public AttachmentInspector(AntivirusOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _blocked = new HashSet<string>(options.BlockedTypes.Select(t => t.ToLowerInvariant()), StringComparer.Ordinal);
    }

    /// <summary>Inspects a parsed message. Never throws for malformed content: what cannot be read is reported by policy.</summary>
    public InspectionResult Inspect(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var walk = new Walk(this);
        walk.Entity(message.Body, mimeDepth: 0, depth: 0, container: null);
        return new InspectionResult(walk.Attachments, walk.Verdict, walk.Reason);
    }

    /// <summary>The state of one inspection: parts seen, verdict so far, and the archive budget shared by all archives.</summary>
    private sealed class Walk(AttachmentInspector owner)
    {
        private readonly AntivirusOptions _o = owner._options;
        private long _expanded;
        private int _files;

        public List<AttachmentInfo> Attachments { get; } = [];

        public PolicyVerdict Verdict { get; private set; } = PolicyVerdict.Allow;

        public string? Reason { get; private set; }

        public void Entity(MimeEntity? entity, int mimeDepth, int depth, string? container)
        {
            if (entity is null || Verdict == PolicyVerdict.Reject)
            {
                return;
            }

            if (mimeDepth > _o.MaxMimeDepth)
            {
                Flag(PolicyVerdict.Quarantine, $"MIME nesting deeper than {_o.MaxMimeDepth} levels");
                return;
            }

            switch (entity)
            {
                case Multipart multipart:
                    foreach (var child in multipart)
                    {
                        Entity(child, mimeDepth + 1, depth, container);
                    }

                    break;

                case MessagePart attached:
                    Entity(attached.Message?.Body, mimeDepth + 1, depth + 1, "message/rfc822");
                    break;

                case TnefPart tnef:
                    Tnef(tnef, mimeDepth, depth, container);
                    break;

                case MimePart part:
                    using (var content = new MemoryStream())
                    {
                        part.Content?.DecodeTo(content);
                        var attachment = part.FileName is not null || part.IsAttachment || !part.ContentType.IsMimeType("text", "*");
                        Leaf(part.FileName, part.ContentType.MimeType, content.GetBuffer().AsMemory(0, (int)content.Length), content.Length, depth, container, attachment, archiveLevel: 0);
                    }

                    break;

                default:
                    break;
            }
        }

        private void Tnef(TnefPart tnef, int mimeDepth, int depth, string? container)
        {
            var label = tnef.FileName ?? "winmail.dat";
            using (var content = new MemoryStream())
            {
                tnef.Content?.DecodeTo(content);
                Leaf(tnef.FileName, tnef.ContentType.MimeType, content.GetBuffer().AsMemory(0, (int)content.Length), content.Length, depth, container, attachment: true, archiveLevel: 0);
            }

            if (Attachments[^1].DetectedType != "tnef")
            {
                Apply(_o.UnscannableArchives, $"unreadable TNEF part ({label})");
                return;
            }

            List<MimeEntity> extracted;
            try
            {
                extracted = [.. tnef.ExtractAttachments()];
            }
            catch (Exception e) when (e is TnefException or FormatException or IOException or ArgumentException or NotSupportedException or TypeInitializationException)
            {
                Apply(_o.UnscannableArchives, $"unreadable TNEF part ({label})");
                return;
            }

            foreach (var e in extracted)
            {
                Entity(e, mimeDepth + 1, depth + 1, label);
            }
        }

        private void Leaf(string? name, string declared, ReadOnlyMemory<byte> data, long size, int depth, string? container, bool attachment, int archiveLevel)
        {
            if (Verdict == PolicyVerdict.Reject)
            {
                return;
            }

            var type = FileTypeDetector.Detect(data.Span, attachment);
            var ext = FileTypeDetector.Extension(name);
            var label = name ?? declared;
            var index = Attachments.Count;
            Attachments.Add(new AttachmentInfo(name, declared, type, size, depth, container));

            if (type == "ole2")
            {
                type = Ole2(data.Span, label, ext);
            }
            else if (type == "zip")
            {
                type = Zip(name, data, depth, archiveLevel + 1);
            }

            if (type != Attachments[index].DetectedType)
            {
                Attachments[index] = Attachments[index] with { DetectedType = type };
            }

            if (owner._blocked.Contains(type))
            {
                Flag(PolicyVerdict.Reject, $"blocked attachment type '{type}' ({label})");
            }
            else if (ext is not null && owner._blocked.Contains(ext))
            {
                Flag(PolicyVerdict.Reject, $"blocked attachment type '{ext}' ({label})");
            }
            else if (IsMacroExtension(ext))
            {
                Apply(_o.MacroDocuments, $"macro-enabled Office document ({label})");
            }
        }

        /// <summary>
        /// OLE2 compound files (MS-CFB) keep stream names in UTF-16LE directory entries: a VBA project ("_VBA_PROJECT",
        /// "Macros" in Word) makes a macro document, "EncryptedPackage" a password-protected OOXML file.
        /// </summary>
        private string Ole2(ReadOnlySpan<byte> data, string label, string? ext)
        {
            if (Contains(data, "EncryptedPackage"))
            {
                Apply(_o.EncryptedArchives, $"password-protected Office document ({label})");
                return "encrypted";
            }

            var kind = Contains(data, "WordDocument") ? "doc"
                : Contains(data, "Workbook") ? "xls"
                : Contains(data, "PowerPoint Document") ? "ppt"
                : ext is "msi" or "msp" or "mst" ? ext
                : "ole2";
            if (Contains(data, "_VBA_PROJECT"))
            {
                Apply(_o.MacroDocuments, $"Office document with macros ({label})");
                return kind switch { "doc" => "docm", "xls" => "xlsm", "ppt" => "pptm", _ => kind };
            }

            return kind;
        }

        private static bool Contains(ReadOnlySpan<byte> data, string utf16Name)
        {
            Span<byte> needle = stackalloc byte[utf16Name.Length * 2];
            for (var i = 0; i < utf16Name.Length; i++)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(needle[(i * 2)..], utf16Name[i]);
            }

            return data.IndexOf(needle) >= 0;
        }

        private static bool IsMacroExtension(string? ext) =>
            ext is "docm" or "dotm" or "xlsm" or "xltm" or "xlsb" or "xlam" or "pptm" or "potm" or "ppsm" or "sldm";

        /// <summary>
        /// Opens a ZIP archive within the shared budget. Sizes are checked from the central directory before any
        /// byte is inflated, and entries are only inflated when they must be opened in turn (nested archives, OLE2),
        /// always bounded by their declared size, so a zip bomb is refused without being expanded.
        /// Returns the refined type: "zip", "jar", "apk", "docx", "docm", "xlsx", "xlsm", "pptx", "pptm".
        /// </summary>
        private string Zip(string? name, ReadOnlyMemory<byte> data, int depth, int archiveLevel)
        {
            var label = name ?? "archive";
            // The entry count is in the end-of-central-directory record (APPNOTE 4.3.16); reading it first keeps
            // ZipArchive from materialising a million entries.
            var declaredCount = EndOfCentralDirectoryCount(data.Span);
            if (declaredCount is { } count && _files + count > _o.MaxArchiveFiles)
            {
                Flag(PolicyVerdict.Reject, $"zip bomb: more than {_o.MaxArchiveFiles} files in archives ({label})");
                return "zip";
            }

            ZipArchive archive;
            try
            {
                archive = new ZipArchive(new ReadOnlyMemoryStream(data), ZipArchiveMode.Read);
            }
            catch (Exception e) when (IsCorrupt(e))
            {
                Apply(_o.UnscannableArchives, $"corrupt archive ({label})");
                return "zip";
            }

            using (archive)
            {
                IReadOnlyCollection<ZipArchiveEntry> entries;
                try
                {
                    entries = archive.Entries;
                }
                catch (Exception e) when (IsCorrupt(e))
                {
                    Apply(_o.UnscannableArchives, $"corrupt archive ({label})");
                    return "zip";
                }

                var type = ZipKind(entries);
                var office = type is "docx" or "docm" or "xlsx" or "xlsm" or "pptx" or "pptm";
                if (type is "docm" or "xlsm" or "pptm")
                {
                    Apply(_o.MacroDocuments, $"Office document with macros ({label})");
                }

                // Past the depth limit the entry names still classify the file (reading the central directory
                // inflates nothing), so an Office document or a jar is still recognised; a plain archive is not opened.
                if (archiveLevel > _o.MaxArchiveDepth)
                {
                    if (!office)
                    {
                        Apply(_o.UnscannableArchives, $"archive nested deeper than {_o.MaxArchiveDepth} levels ({label})");
                    }

                    return type;
                }

                foreach (var entry in entries)
                {
                    if (Verdict == PolicyVerdict.Reject)
                    {
                        break;
                    }

                    if (entry.FullName.EndsWith('/') && entry.Length == 0)
                    {
                        continue;
                    }

                    if (++_files > _o.MaxArchiveFiles)
                    {
                        Flag(PolicyVerdict.Reject, $"zip bomb: more than {_o.MaxArchiveFiles} files in archives ({label})");
                        break;
                    }

                    _expanded += entry.Length;
                    if (_expanded > _o.MaxArchiveExpandedSize)
                    {
                        Flag(PolicyVerdict.Reject, $"zip bomb: archives expand to more than {_o.MaxArchiveExpandedSize} bytes ({label})");
                        break;
                    }

                    if (entry.Length >= RatioCheckThreshold && entry.Length > Math.Max(entry.CompressedLength, 1) * _o.MaxCompressionRatio)
                    {
                        Flag(PolicyVerdict.Reject, $"zip bomb: compression ratio above {_o.MaxCompressionRatio} ({label}: {entry.FullName})");
                        break;
                    }

                    // Office parts are XML written by the application; only embedded objects can carry a payload.
                    if (office && !entry.FullName.Contains("/embeddings/", StringComparison.OrdinalIgnoreCase))
                    {
                        continue;
                    }

                    Entry(entry, label, depth, archiveLevel);
                }

                return type;
            }
        }

        private void Entry(ZipArchiveEntry entry, string label, int depth, int archiveLevel)
        {
            if (entry.IsEncrypted)
            {
                // APPNOTE 4.4.4: general purpose bit 0 set means the entry is encrypted and cannot be inspected.
                Attachments.Add(new AttachmentInfo(entry.FullName, "application/octet-stream", "encrypted", entry.Length, depth + 1, label));
                var ext = FileTypeDetector.Extension(entry.FullName);
                if (ext is not null && owner._blocked.Contains(ext))
                {
                    Flag(PolicyVerdict.Reject, $"blocked attachment type '{ext}' ({label}: {entry.FullName})");
                }
                else
                {
                    Apply(_o.EncryptedArchives, $"encrypted archive ({label})");
                }

                return;
            }

            byte[] content;
            try
            {
                content = ReadEntry(entry);
            }
            catch (Exception e) when (IsCorrupt(e))
            {
                Apply(_o.UnscannableArchives, $"unreadable archive entry ({label}: {entry.FullName}): {e.Message}");
                return;
            }

            Leaf(entry.FullName, "application/octet-stream", content, entry.Length, depth + 1, label, attachment: true, archiveLevel);
        }

        /// <summary>
        /// Reads the head of an entry (enough to detect its type), and the whole entry only when it is itself a
        /// container. Never reads more than the declared size plus one byte: more means the header lied.
        /// </summary>
        private static byte[] ReadEntry(ZipArchiveEntry entry)
        {
            var declared = entry.Length;
            using var stream = entry.Open();
            var head = new byte[(int)Math.Min(declared + 1, FileTypeDetector.HeadLength)];
            var n = ReadAtMost(stream, head);
            var type = FileTypeDetector.Detect(head.AsSpan(0, n), scriptHeuristics: false);
            if (type is not ("zip" or "ole2") || n < head.Length)
            {
                CheckNotLonger(n, declared);
                return head[..n];
            }

            if (declared >= Array.MaxLength)
            {
                throw new InvalidDataException("entry too large to open");
            }

            var whole = new byte[declared + 1];
            head.AsSpan(0, n).CopyTo(whole);
            var total = n + ReadAtMost(stream, whole.AsSpan(n));
            CheckNotLonger(total, declared);
            return whole[..total];
        }

        private static void CheckNotLonger(long read, long declared)
        {
            if (read > declared)
            {
                throw new InvalidDataException("entry is longer than its declared size");
            }
        }

        /// <summary>
        /// What System.IO.Compression throws on malformed archives (bad offsets surface as argument and overflow
        /// errors): a corrupt archive is a policy matter, not a crash.
        /// </summary>
        private static bool IsCorrupt(Exception e) =>
            e is InvalidDataException or IOException or NotSupportedException or ArgumentException or OverflowException;

        private static int ReadAtMost(Stream stream, Span<byte> buffer)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var n = stream.Read(buffer[total..]);
                if (n == 0)
                {
                    break;
                }

                total += n;
            }

            return total;
        }

        private static string ZipKind(IReadOnlyCollection<ZipArchiveEntry> entries)
        {
            bool Has(string path) => entries.Any(e => e.FullName.Equals(path, StringComparison.OrdinalIgnoreCase));
            bool HasPrefix(string prefix) => entries.Any(e => e.FullName.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));

            if (Has("[Content_Types].xml"))
            {
                var macro = entries.Any(e => e.Name.Equals("vbaProject.bin", StringComparison.OrdinalIgnoreCase));
                return HasPrefix("word/") ? (macro ? "docm" : "docx")
                    : HasPrefix("xl/") ? (macro ? "xlsm" : "xlsx")
                    : HasPrefix("ppt/") ? (macro ? "pptm" : "pptx")
                    : "zip";
            }

            if (Has("AndroidManifest.xml") && Has("classes.dex"))
            {
                return "apk";
            }

            return Has("META-INF/MANIFEST.MF") ? "jar" : "zip";
        }

        /// <summary>Total entries from the end-of-central-directory record, null when absent or ZIP64 (0xFFFF).</summary>
        private static int? EndOfCentralDirectoryCount(ReadOnlySpan<byte> data)
        {
            // The record is 22 bytes plus a comment of at most 65535 bytes, at the end of the file.
            var tail = data[Math.Max(0, data.Length - (22 + 65535))..];
            var at = tail.LastIndexOf("PK\x05\x06"u8);
            if (at < 0 || at + 22 > tail.Length)
            {
                return null;
            }

            var count = BinaryPrimitives.ReadUInt16LittleEndian(tail[(at + 10)..]);
            return count == 0xFFFF ? null : count;
        }

        private void Apply(string policy, string reason)
        {
            switch (policy)
            {
                case "reject":
                    Flag(PolicyVerdict.Reject, reason);
                    break;
                case "quarantine":
                    Flag(PolicyVerdict.Quarantine, reason);
                    break;
                default:
                    break;
            }
        }

        private void Flag(PolicyVerdict verdict, string reason)
        {
            if (verdict > Verdict)
            {
                Verdict = verdict;
                Reason = reason;
            }
        }
    }
}
