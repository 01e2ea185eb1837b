using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rempart.Backup.Repository;

/// <summary>Argon2id (RFC 9106) parameters for the passphrase key; persisted in the configuration.</summary>
public sealed record KdfParameters(int MemoryKib, int Iterations, int Parallelism)
{
    /// <summary>64 MiB, 3 passes: about a second on a small server, paid once per backup run.</summary>
    public static KdfParameters Default { get; } = new(64 * 1024, 3, 2);

    public void Validate()
    {
        // Bounded so a tampered configuration cannot make unlocking allocate gigabytes or spin for hours.
        if (MemoryKib is < 8 or > 4 * 1024 * 1024 || Iterations is < 1 or > 64 || Parallelism is < 1 or > 16)
        {
            throw new BackupException($"invalid Argon2id parameters m={MemoryKib} KiB t={Iterations} p={Parallelism}");
        }
    }
}

/// <summary>
/// The plaintext <c>config</c> file at the repository root (docs/backup-format.md, "config"). It holds nothing
/// secret: the master secret is wrapped with AES-256-GCM under a key derived from the passphrase, and the
/// settings are authenticated by an HMAC under a key derived from the master secret, so editing them (turning
/// append-only off) is detected.
/// </summary>
public sealed class RepositoryConfig
{
    public const string FormatName = "rempart-backup";

    /// <summary>The repository format version this code writes and reads.</summary>
    public const int CurrentVersion = 2;

    [JsonPropertyName("format")]
    public string Format { get; init; } = FormatName;

    [JsonPropertyName("version")]
    public int Version { get; init; } = CurrentVersion;

    /// <summary>Random repository id (32 hex digits).</summary>
    [JsonPropertyName("id")]
    public string Id { get; init; } = "";

    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; init; }

    /// <summary>When true, clients refuse to delete or rewrite anything (prune, forget).</summary>
    [JsonPropertyName("appendOnly")]
    public bool AppendOnly { get; init; }

    [JsonPropertyName("chunker")]
    public ChunkerParameters Chunker { get; init; } = ChunkerParameters.Default;

    [JsonPropertyName("kdf")]
    public KdfParameters Kdf { get; init; } = KdfParameters.Default;

    /// <summary>Argon2id salt, base64.</summary>
    [JsonPropertyName("salt")]
    public string Salt { get; init; } = "";

    /// <summary>version(1) | nonce(12) | AES-256-GCM(master secret) | tag(16), base64; associated data "key:" + id.</summary>
    [JsonPropertyName("wrappedKey")]
    public string WrappedKey { get; init; } = "";

    /// <summary>HMAC-SHA256 of <see cref="SettingsText"/> under the config-MAC key, base64.</summary>
    [JsonPropertyName("mac")]
    public string Mac { get; set; } = "";

    /// <summary>The authenticated settings, in a fixed text form independent of JSON formatting.</summary>
    [JsonIgnore]
    public string SettingsText => string.Create(
        CultureInfo.InvariantCulture,
        $"{Format}|{Version}|{Id}|{Created.ToUnixTimeMilliseconds()}|{AppendOnly}|{Chunker.MinSize}|{Chunker.AverageSize}|{Chunker.MaxSize}|{Kdf.MemoryKib}|{Kdf.Iterations}|{Kdf.Parallelism}|{Salt}");

    /// <summary>A new configuration with a fresh master secret wrapped under <paramref name="passphrase"/>.</summary>
    public static (RepositoryConfig Config, RepositoryKeys Keys) Create(ReadOnlySpan<byte> passphrase, bool appendOnly, KdfParameters kdf, ChunkerParameters chunker, DateTimeOffset now)
    {
        kdf.Validate();
        chunker.Validate();
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var salt = RandomNumberGenerator.GetBytes(16);
        var master = RandomNumberGenerator.GetBytes(RepositoryKeys.MasterLength);
        try
        {
            var kek = DeriveKek(passphrase, salt, kdf);
            var wrapped = new byte[1 + RepositoryKeys.NonceLength + master.Length + RepositoryKeys.TagLength];
            wrapped[0] = 1;
            RandomNumberGenerator.Fill(wrapped.AsSpan(1, RepositoryKeys.NonceLength));
            using (var aes = new AesGcm(kek, RepositoryKeys.TagLength))
            {
                aes.Encrypt(wrapped.AsSpan(1, RepositoryKeys.NonceLength), master, wrapped.AsSpan(1 + RepositoryKeys.NonceLength, master.Length), wrapped.AsSpan(1 + RepositoryKeys.NonceLength + master.Length), KeyAd(id));
            }

            CryptographicOperations.ZeroMemory(kek);
            var config = new RepositoryConfig
            {
                Id = id,
                Created = DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()),
                AppendOnly = appendOnly,
                Chunker = chunker,
                Kdf = kdf,
                Salt = Convert.ToBase64String(salt),
                WrappedKey = Convert.ToBase64String(wrapped),
            };
            var keys = new RepositoryKeys(master);
            config.Mac = Convert.ToBase64String(HMACSHA256.HashData(keys.ConfigMac, Encoding.UTF8.GetBytes(config.SettingsText)));
            return (config, keys);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(master);
        }
    }

    /// <summary>Unwraps the master secret and checks the settings' MAC.</summary>
    public RepositoryKeys Unlock(ReadOnlySpan<byte> passphrase, string where)
    {
        Kdf.Validate();
        Chunker.Validate();
        byte[] salt, wrapped;
        try
        {
            salt = Convert.FromBase64String(Salt);
            wrapped = Convert.FromBase64String(WrappedKey);
        }
        catch (FormatException ex)
        {
            throw new BackupException($"the repository configuration {where} is damaged (salt or wrapped key is not base64)", ex);
        }

        if (wrapped.Length != 1 + RepositoryKeys.NonceLength + RepositoryKeys.MasterLength + RepositoryKeys.TagLength || wrapped[0] != 1)
        {
            throw new BackupException($"the repository configuration {where} is damaged (wrapped key has the wrong size or version)");
        }

        var kek = DeriveKek(passphrase, salt, Kdf);
        var master = new byte[RepositoryKeys.MasterLength];
        try
        {
            using var aes = new AesGcm(kek, RepositoryKeys.TagLength);
            aes.Decrypt(wrapped.AsSpan(1, RepositoryKeys.NonceLength), wrapped.AsSpan(1 + RepositoryKeys.NonceLength, master.Length), wrapped.AsSpan(1 + RepositoryKeys.NonceLength + master.Length), master, KeyAd(Id));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new WrongPassphraseException(
                $"wrong passphrase or key file for the backup repository {where} (the key could not be unwrapped). " +
                "Check REMPART_BACKUP_PASSPHRASE or --key-file; without the right one this repository cannot be read.", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }

        var keys = new RepositoryKeys(master);
        CryptographicOperations.ZeroMemory(master);
        var expected = HMACSHA256.HashData(keys.ConfigMac, Encoding.UTF8.GetBytes(SettingsText));
        byte[] actual;
        try
        {
            actual = Convert.FromBase64String(Mac);
        }
        catch (FormatException)
        {
            actual = [];
        }

        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            throw new BackupException($"the repository configuration {where} was modified outside Rempart (its settings do not match their MAC); restore the original config file");
        }

        return keys;
    }

    // Source-generated: reflection-based serialization costs ~80 ms of warm-up in every short-lived CLI process.
    public string ToJson() => JsonSerializer.Serialize(this, RepositoryConfigJson.Default.RepositoryConfig);

    public static RepositoryConfig Parse(string json, string where)
    {
        RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(json, RepositoryConfigJson.Default.RepositoryConfig);
        }
        catch (JsonException ex)
        {
            throw new BackupException($"{where} is not a Rempart backup repository configuration: {ex.Message}", ex);
        }

        if (config is null || config.Format != FormatName)
        {
            throw new BackupException($"{where} is not a Rempart backup repository configuration");
        }

        if (config.Version > CurrentVersion)
        {
            throw new BackupException($"the repository {where} has format version {config.Version}; this Rempart reads versions up to {CurrentVersion}. Use a newer Rempart.");
        }

        return config;
    }

    private static byte[] KeyAd(string id) => Encoding.ASCII.GetBytes("key:" + id);

    private static byte[] DeriveKek(ReadOnlySpan<byte> passphrase, byte[] salt, KdfParameters kdf)
    {
        if (passphrase.IsEmpty)
        {
            throw new BackupException("the backup passphrase is empty");
        }

        return Rempart.Store.Auth.Argon2.Argon2id(passphrase, salt, kdf.MemoryKib, kdf.Iterations, kdf.Parallelism, 32);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(RepositoryConfig))]
internal sealed partial class RepositoryConfigJson : JsonSerializerContext;
