using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using ZstdSharp;

namespace Rempart.Backup.Repository;

/// <summary>
/// The keys of an unlocked repository, all derived with HKDF-SHA256 (RFC 5869) from the random 64-byte master secret
/// that the configuration file stores wrapped under the passphrase key. Separate keys per purpose so that a chunk id
/// (a MAC) can never be confused with a ciphertext or a configuration MAC.
/// </summary>
public sealed class RepositoryKeys
{
    public const int MasterLength = 64;
    public const int NonceLength = 12;
    public const int TagLength = 16;

    /// <summary>Envelope version byte + nonce + tag + compression byte.</summary>
    public const int Overhead = 1 + NonceLength + TagLength + 1;

    private const byte EnvelopeVersion = 1;
    private const byte Raw = 0;
    private const byte Zstd = 1;
    private const int MaxPlaintext = 256 * 1024 * 1024;

    private readonly byte[] _encryption;
    private readonly byte[] _id;

    // AES-GCM contexts reused across chunks (one per concurrent writer); a context is not safe for two threads at once.
    private readonly System.Collections.Concurrent.ConcurrentBag<AesGcm> _ciphers = [];

    public RepositoryKeys(ReadOnlySpan<byte> master)
    {
        if (master.Length != MasterLength)
        {
            throw new ArgumentException("master secret must be 64 bytes", nameof(master));
        }

        _encryption = Derive(master, "rempart-backup/v1/encryption");
        _id = Derive(master, "rempart-backup/v1/chunk-id");
        ConfigMac = Derive(master, "rempart-backup/v1/config-mac");
        GearKey = Derive(master, "rempart-backup/v1/chunker-gear");
    }

    internal byte[] ConfigMac { get; }

    internal byte[] GearKey { get; }

    /// <summary>A chunk's name: HMAC-SHA256 of its plaintext under the id key, 64 lower-case hex digits.</summary>
    public string ChunkId(ReadOnlySpan<byte> plaintext) => Convert.ToHexStringLower(HMACSHA256.HashData(_id, plaintext));

    /// <summary>
    /// Encrypts: <c>version(1) | nonce(12) | AES-256-GCM(compression(1) | payload) | tag(16)</c> with
    /// <paramref name="associatedData"/> bound in, so a file moved under another name fails to open.
    /// </summary>
    public byte[] Seal(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> associatedData, bool compress, int level = 3)
    {
        var (buffer, length) = SealPooled(payload, associatedData, compress, level);
        try
        {
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// <see cref="Seal"/> into a buffer rented from <see cref="ArrayPool{T}.Shared"/> (its first <c>Length</c> bytes);
    /// the caller returns it. The chunk writer's path: no per-chunk garbage the size of the chunk.
    /// </summary>
    public (byte[] Buffer, int Length) SealPooled(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> associatedData, bool compress, int level = 3)
    {
        byte[]? compressed = null;
        if (compress && payload.Length > 64)
        {
            using var compressor = new Compressor(level);
            var packed = compressor.Wrap(payload);
            if (packed.Length < payload.Length)
            {
                compressed = packed.ToArray();
            }
        }

        var body = compressed ?? payload;
        var plainLength = 1 + body.Length;
        var length = 1 + NonceLength + plainLength + TagLength;
        var output = ArrayPool<byte>.Shared.Rent(length);
        output[0] = EnvelopeVersion;
        var nonce = output.AsSpan(1, NonceLength);
        RandomNumberGenerator.Fill(nonce);

        // Encrypted in place: the plaintext is laid out where the ciphertext goes.
        var plain = output.AsSpan(1 + NonceLength, plainLength);
        plain[0] = compressed is null ? Raw : Zstd;
        body.CopyTo(plain[1..]);
        var aes = _ciphers.TryTake(out var cached) ? cached : new AesGcm(_encryption, TagLength);
        try
        {
            aes.Encrypt(nonce, plain, plain, output.AsSpan(1 + NonceLength + plainLength, TagLength), associatedData);
        }
        finally
        {
            _ciphers.Add(aes);
        }

        return (output, length);
    }

    /// <summary>Authenticates and decrypts an envelope; throws <see cref="DamagedDataException"/> when it does not verify.</summary>
    public byte[] Open(ReadOnlySpan<byte> envelope, ReadOnlySpan<byte> associatedData)
    {
        if (envelope.Length < Overhead)
        {
            throw new DamagedDataException($"truncated: {envelope.Length} bytes, shorter than the {Overhead}-byte envelope");
        }

        if (envelope[0] != EnvelopeVersion)
        {
            throw new DamagedDataException($"unknown envelope version {envelope[0]} (damaged, or written by a newer Rempart)");
        }

        var plainLength = envelope.Length - 1 - NonceLength - TagLength;
        var plain = new byte[plainLength];
        using (var aes = new AesGcm(_encryption, TagLength))
        {
            try
            {
                aes.Decrypt(envelope.Slice(1, NonceLength), envelope.Slice(1 + NonceLength, plainLength), envelope.Slice(1 + NonceLength + plainLength, TagLength), plain, associatedData);
            }
            catch (AuthenticationTagMismatchException ex)
            {
                throw new DamagedDataException("authentication failed: the data was modified, truncated or belongs elsewhere", ex);
            }
        }

        switch (plain[0])
        {
            case Raw:
                return plain[1..];
            case Zstd:
                using (var decompressor = new Decompressor())
                {
                    decompressor.SetParameter(ZstdSharp.Unsafe.ZSTD_dParameter.ZSTD_d_windowLogMax, 27);
                    try
                    {
                        var size = Decompressor.GetDecompressedSize(plain.AsSpan(1));
                        if (size > MaxPlaintext)
                        {
                            throw new DamagedDataException($"declared size {size} is above the {MaxPlaintext}-byte limit");
                        }

                        return decompressor.Unwrap(plain.AsSpan(1)).ToArray();
                    }
                    catch (ZstdException ex)
                    {
                        throw new DamagedDataException("authenticated but not valid zstd (written by a broken client)", ex);
                    }
                }

            default:
                throw new DamagedDataException($"unknown compression {plain[0]}");
        }
    }

    /// <summary>Associated data for a chunk: binds the ciphertext to its id.</summary>
    public static byte[] ChunkAd(string id) => Encoding.ASCII.GetBytes("chunk:" + id);

    /// <summary>Associated data for a snapshot manifest: binds the ciphertext to its file name.</summary>
    public static byte[] SnapshotAd(string id) => Encoding.ASCII.GetBytes("snapshot:" + id);

    private static byte[] Derive(ReadOnlySpan<byte> master, string purpose)
    {
        var key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, master, key, ReadOnlySpan<byte>.Empty, Encoding.ASCII.GetBytes(purpose));
        return key;
    }
}

/// <summary>Stored data failed authentication, is truncated, or does not match its name.</summary>
public sealed class DamagedDataException : BackupException
{
    public DamagedDataException()
    {
    }

    public DamagedDataException(string message)
        : base(message)
    {
    }

    public DamagedDataException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
