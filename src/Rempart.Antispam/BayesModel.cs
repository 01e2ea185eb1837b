using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Rempart.Antispam;

/// <summary>Spam and ham messages in which a token bucket appeared.</summary>
internal struct TokenCounts
{
    public int Spam;
    public int Ham;
}

/// <summary>
/// One naive Bayes model (the global one or a user's): per token bucket, in how many spam and ham messages it was
/// seen; how many messages of each kind were learned; and which messages were learned (to ignore a repeat and to
/// unlearn a message the user moves back). Not thread-safe by itself: <see cref="SpamEngine"/> guards it with
/// <see cref="Lock"/>.
/// </summary>
internal sealed class BayesModel : ISpamModel
{
    /// <summary>Messages remembered for unlearning; older ones can still be learned again (harmless double count).</summary>
    public const int MaxRemembered = 200_000;

    private static ReadOnlySpan<byte> Magic => "RSPB"u8;
    private const ushort FormatVersion = 1;
    private const int HeaderSize = 4 + 2 + 1 + 1 + 8 + 8 + 4 + 4;
    private const int TokenRecordSize = 12;
    private const int LearnedRecordSize = 9;

    public Dictionary<uint, TokenCounts> Tokens { get; } = [];

    /// <summary>Message id (first 8 bytes of its SHA-256) → learned as spam.</summary>
    public Dictionary<ulong, bool> Learned { get; } = [];

    public long SpamMessages { get; set; }

    public long HamMessages { get; set; }

    public ReaderWriterLockSlim Lock { get; } = new(LockRecursionPolicy.NoRecursion);

    /// <summary>Changed since the last save.</summary>
    public bool Dirty { get; set; }

    /// <summary>Adds (+1) or removes (-1) a message's tokens.</summary>
    public void Apply(HashSet<uint> tokens, bool isSpam, int delta)
    {
        foreach (var t in tokens)
        {
            Tokens.TryGetValue(t, out var c);
            if (isSpam)
            {
                c.Spam = Math.Max(0, c.Spam + delta);
            }
            else
            {
                c.Ham = Math.Max(0, c.Ham + delta);
            }

            if (c.Spam == 0 && c.Ham == 0)
            {
                Tokens.Remove(t);
            }
            else
            {
                Tokens[t] = c;
            }
        }

        if (isSpam)
        {
            SpamMessages = Math.Max(0, SpamMessages + delta);
        }
        else
        {
            HamMessages = Math.Max(0, HamMessages + delta);
        }

        Dirty = true;
    }

    /// <summary>Serializes: header, token records, learned records, then a SHA-256 of all that (detects damage).</summary>
    public byte[] Serialize()
    {
        var size = HeaderSize + (Tokens.Count * TokenRecordSize) + (Learned.Count * LearnedRecordSize) + 32;
        var buffer = new byte[size];
        var span = buffer.AsSpan();
        ModelFile.WriteHeader(span, Magic, FormatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], SpamMessages);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], HamMessages);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], Tokens.Count);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], Learned.Count);
        var at = HeaderSize;
        foreach (var (bucket, c) in Tokens)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[at..], bucket);
            BinaryPrimitives.WriteInt32LittleEndian(span[(at + 4)..], c.Spam);
            BinaryPrimitives.WriteInt32LittleEndian(span[(at + 8)..], c.Ham);
            at += TokenRecordSize;
        }

        foreach (var (id, spam) in Learned)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[at..], id);
            span[at + 8] = spam ? (byte)1 : (byte)0;
            at += LearnedRecordSize;
        }

        SHA256.HashData(span[..at], span[at..]);
        return buffer;
    }

    /// <summary>Reads a serialized model; throws <see cref="InvalidDataException"/> with the reason when damaged.</summary>
    public static BayesModel Deserialize(ReadOnlySpan<byte> data)
    {
        ModelFile.CheckHeader(data, Magic, HeaderSize, FormatVersion, "spam model");
        var tokens = BinaryPrimitives.ReadInt32LittleEndian(data[24..]);
        var learned = BinaryPrimitives.ReadInt32LittleEndian(data[28..]);
        if (tokens < 0 || learned < 0 || (long)HeaderSize + ((long)tokens * TokenRecordSize) + ((long)learned * LearnedRecordSize) + 32 != data.Length)
        {
            throw new InvalidDataException("length does not match the record counts (truncated file?)");
        }

        ModelFile.CheckChecksum(data);

        var model = new BayesModel
        {
            SpamMessages = BinaryPrimitives.ReadInt64LittleEndian(data[8..]),
            HamMessages = BinaryPrimitives.ReadInt64LittleEndian(data[16..]),
        };
        model.Tokens.EnsureCapacity(tokens);
        var at = HeaderSize;
        for (var i = 0; i < tokens; i++, at += TokenRecordSize)
        {
            model.Tokens[BinaryPrimitives.ReadUInt32LittleEndian(data[at..])] = new TokenCounts
            {
                Spam = BinaryPrimitives.ReadInt32LittleEndian(data[(at + 4)..]),
                Ham = BinaryPrimitives.ReadInt32LittleEndian(data[(at + 8)..]),
            };
        }

        for (var i = 0; i < learned; i++, at += LearnedRecordSize)
        {
            model.Learned[BinaryPrimitives.ReadUInt64LittleEndian(data[at..])] = data[at + 8] != 0;
        }

        return model;
    }
}

/// <summary>
/// What the model files of both kinds share: magic (4 bytes), format version (u16), bucket bits (u8), reserved (u8)
/// at the start, a SHA-256 of everything before it at the end (detects damage).
/// </summary>
internal static class ModelFile
{
    public static void WriteHeader(Span<byte> span, ReadOnlySpan<byte> magic, ushort version)
    {
        magic.CopyTo(span);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], version);
        span[6] = Tokenizer.BucketBits;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> unless the file starts with this kind's header.</summary>
    public static void CheckHeader(ReadOnlySpan<byte> data, ReadOnlySpan<byte> magic, int headerSize, ushort formatVersion, string kind)
    {
        if (data.Length < headerSize + 32 || !data[..4].SequenceEqual(magic))
        {
            throw new InvalidDataException($"not a Rempart {kind} (bad magic or too short)");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
        if (version != formatVersion)
        {
            throw new InvalidDataException($"unsupported model format version {version}");
        }

        if (data[6] != Tokenizer.BucketBits)
        {
            throw new InvalidDataException($"model made with {data[6]} bucket bits, this version uses {Tokenizer.BucketBits}");
        }
    }

    /// <summary>Throws <see cref="InvalidDataException"/> unless the last 32 bytes are the SHA-256 of the rest.</summary>
    public static void CheckChecksum(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data[..^32], hash);
        if (!hash.SequenceEqual(data[^32..]))
        {
            throw new InvalidDataException("checksum mismatch");
        }
    }
}

/// <summary>What <see cref="SpamEngine"/> needs to save a model of either kind: its lock, whether it changed, its bytes.</summary>
internal interface ISpamModel
{
    ReaderWriterLockSlim Lock { get; }

    bool Dirty { get; set; }

    byte[] Serialize();
}

/// <summary>
/// Robinson's per-token probability and Fisher's chi-square combining, as in SpamBayes and SpamAssassin's Bayes
/// (Gary Robinson, "A Statistical Approach to the Spam Problem", Linux Journal 2003).
/// </summary>
internal static class BayesMath
{
    /// <summary>Weight of the 0.5 prior against the observed counts (SpamBayes's unknown_word_strength).</summary>
    public const double PriorStrength = 0.45;

    /// <summary>Tokens whose probability is nearer 0.5 than this carry no evidence and are ignored.</summary>
    public const double MinDeviation = 0.1;

    /// <summary>Most extreme tokens used for one message.</summary>
    public const int MaxClues = 150;

    public static double TokenProbability(double spamCount, double hamCount, double spamTotal, double hamTotal)
    {
        var spamRatio = spamTotal > 0 ? spamCount / spamTotal : 0;
        var hamRatio = hamTotal > 0 ? hamCount / hamTotal : 0;
        if (spamRatio + hamRatio <= 0)
        {
            return 0.5;
        }

        var p = spamRatio / (spamRatio + hamRatio);
        var n = spamCount + hamCount;
        return ((PriorStrength * 0.5) + (n * p)) / (PriorStrength + n);
    }

    /// <summary>Combines token probabilities into a spam probability in [0, 1] (0.5 = no opinion).</summary>
    public static double Combine(List<double> probabilities)
    {
        if (probabilities.Count == 0)
        {
            return 0.5;
        }

        if (probabilities.Count > MaxClues)
        {
            probabilities.Sort((a, b) => Math.Abs(b - 0.5).CompareTo(Math.Abs(a - 0.5)));
            probabilities.RemoveRange(MaxClues, probabilities.Count - MaxClues);
        }

        double lnSpam = 0, lnHam = 0;
        foreach (var p in probabilities)
        {
            var q = Math.Clamp(p, 1e-6, 1 - 1e-6);
            lnSpam += Math.Log(1 - q);
            lnHam += Math.Log(q);
        }

        var n = probabilities.Count;
        var s = 1 - Chi2Q(-2 * lnSpam, 2 * n);
        var h = 1 - Chi2Q(-2 * lnHam, 2 * n);
        return (s - h + 1) / 2;
    }

    /// <summary>P(chi² with <paramref name="v"/> (even) degrees of freedom ≥ <paramref name="x2"/>).</summary>
    public static double Chi2Q(double x2, int v)
    {
        var m = x2 / 2;
        var term = Math.Exp(-m);
        var sum = term;
        for (var i = 1; i < v / 2; i++)
        {
            term *= m / i;
            sum += term;
        }

        return Math.Min(sum, 1.0);
    }
}
