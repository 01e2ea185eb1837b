using System.Text.Json;
using System.Text.Json.Serialization;
using Rempart.Store.Blobs;

namespace Rempart.Protection.Reputation;

/// <summary>
/// The reputation table on disk: <c>DATA/protection/reputation.json</c>, JSON, written whole to a temporary file,
/// fsynced and renamed over the old one (NativeFileSystem.ReplaceFile), so a crash leaves the previous save or the
/// new one, never half of either.
/// </summary>
public static class ReputationFile
{
    public const int Version = 1;

    /// <summary>Larger files are refused rather than read (the table is bounded far below this).</summary>
    public const long MaxBytes = 256L * 1024 * 1024;

    public static void Save(string path, IReadOnlyList<ReputationEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(path);
        NativeFileSystem.ReplaceFile(path, JsonSerializer.SerializeToUtf8Bytes(new Document(Version, entries), ReputationJson.Default.Document));
    }

    /// <summary>
    /// Reads a saved table; null when there is none. Throws <see cref="InvalidDataException"/> with the reason when the
    /// file is not a reputation table this version understands.
    /// </summary>
    public static IReadOnlyList<ReputationEntry>? Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return null;
        }

        if (new FileInfo(path).Length > MaxBytes)
        {
            throw new InvalidDataException($"{path} is larger than {MaxBytes} bytes; not a reputation table");
        }

        Document? document;
        try
        {
            using var file = File.OpenRead(path);
            document = JsonSerializer.Deserialize(file, ReputationJson.Default.Document);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {ex.Message}", ex);
        }

        if (document is null || document.Version != Version || document.Entries is null)
        {
            throw new InvalidDataException($"{path} is not a version {Version} reputation table");
        }

        return document.Entries;
    }

    internal sealed record Document(int Version, IReadOnlyList<ReputationEntry> Entries);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReputationFile.Document))]
internal sealed partial class ReputationJson : JsonSerializerContext;
