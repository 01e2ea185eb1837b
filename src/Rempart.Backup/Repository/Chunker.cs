using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Rempart.Backup.Repository;

/// <summary>
/// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016): a gear rolling hash over the bytes, a cut where the
/// hash's top bits are zero, with "normalized chunking" (a stricter mask before the average size, a looser one after)
/// so sizes cluster around the average. Boundaries depend only on nearby content, so an insertion early in a file
/// (a page added to the SQLite copy) changes only the chunks around it.
/// <para>
/// The gear table is derived from the repository's key, so chunk sizes, which an observer of the repository sees,
/// are not a fingerprint of known content (the attack restic avoids with a per-repository polynomial).
/// </para>
/// </summary>
public sealed class Chunker
{
    private readonly ulong[] _gear;
    private readonly ulong _maskStrict;
    private readonly ulong _maskLoose;

    public Chunker(ChunkerParameters parameters, ReadOnlySpan<byte> gearKey)
    {
        parameters.Validate();
        Parameters = parameters;
        _gear = new ulong[256];
        Span<byte> input = stackalloc byte[4];
        Span<byte> mac = stackalloc byte[32];
        for (var i = 0; i < 256; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(input, i);
            HMACSHA256.HashData(gearKey, input, mac);
            _gear[i] = BinaryPrimitives.ReadUInt64LittleEndian(mac);
        }

        var bits = BitOperations.Log2((uint)parameters.AverageSize);
        _maskStrict = TopBits(bits + 2);
        _maskLoose = TopBits(bits - 2);
    }

    public ChunkerParameters Parameters { get; }

    /// <summary>
    /// Length of the first chunk of <paramref name="data"/>. Call with at least <see cref="ChunkerParameters.MaxSize"/>
    /// bytes unless <paramref name="data"/> is the end of the stream.
    /// </summary>
    public int Cut(ReadOnlySpan<byte> data)
    {
        var min = Parameters.MinSize;
        if (data.Length <= min)
        {
            return data.Length;
        }

        var normal = Math.Min(Parameters.AverageSize, data.Length);
        var end = Math.Min(Parameters.MaxSize, data.Length);
        ulong fp = 0;
        var i = min;
        for (; i < normal; i++)
        {
            fp = (fp << 1) + _gear[data[i]];
            if ((fp & _maskStrict) == 0)
            {
                return i + 1;
            }
        }

        for (; i < end; i++)
        {
            fp = (fp << 1) + _gear[data[i]];
            if ((fp & _maskLoose) == 0)
            {
                return i + 1;
            }
        }

        return end;
    }

    /// <summary>Splits a stream into chunks; each chunk is handed to <paramref name="onChunk"/> before the next is read.</summary>
    public async Task ChunkAsync(Stream input, Func<ReadOnlyMemory<byte>, Task> onChunk, CancellationToken ct)
    {
        var buffer = new byte[Parameters.MaxSize * 2];
        var filled = 0;
        var eof = false;
        while (true)
        {
            while (!eof && filled < Parameters.MaxSize)
            {
                var read = await input.ReadAsync(buffer.AsMemory(filled), ct);
                if (read == 0)
                {
                    eof = true;
                }

                filled += read;
            }

            if (filled == 0)
            {
                return;
            }

            var length = Cut(buffer.AsSpan(0, filled));
            await onChunk(buffer.AsMemory(0, length));
            Buffer.BlockCopy(buffer, length, buffer, 0, filled - length);
            filled -= length;
        }
    }

    private static ulong TopBits(int count) => count <= 0 ? 0 : ulong.MaxValue << (64 - count);
}

/// <summary>Chunk size bounds; persisted in the repository configuration (docs/backup-format.md).</summary>
public sealed record ChunkerParameters(int MinSize, int AverageSize, int MaxSize)
{
    /// <summary>
    /// Most mail is far below the minimum, so a message is one chunk (the blob store already de-duplicates whole
    /// messages); large attachments and the database copy are split around 1 MiB so a change re-uploads little.
    /// </summary>
    public static ChunkerParameters Default { get; } = new(256 * 1024, 1024 * 1024, 4 * 1024 * 1024);

    public void Validate()
    {
        if (MinSize < 64 || !BitOperations.IsPow2(AverageSize) || AverageSize <= MinSize || MaxSize <= AverageSize || MaxSize > 64 * 1024 * 1024)
        {
            throw new BackupException($"invalid chunker sizes min={MinSize} avg={AverageSize} max={MaxSize}: need 64 <= min < avg (a power of two) < max <= 64 MiB");
        }
    }
}
