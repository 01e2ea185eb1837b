using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Rempart.Antispam;

/// <summary>The FTRL-proximal state of one feature bucket: the adjusted gradient sum z and the squared gradient sum n.</summary>
internal struct FtrlCoefficient
{
    public float Z;
    public float N;
}

/// <summary>
/// Learning rate and regularisation of <see cref="LogisticModel"/>. The defaults (FTRL α 0.1, β 1, L2 0.01, binary
/// features not normalised) were chosen by 5-fold cross-validation on the training half of the SpamAssassin corpus
/// (bench/results/2026-12-03-spam.md); the other values exist for that comparison.
/// </summary>
internal sealed record LogisticSettings(double Alpha = 0.1, double Beta = 1.0, double L1 = 0.0, double L2 = 0.01, bool Normalize = false)
{
    public static LogisticSettings Default { get; } = new();
}

/// <summary>
/// Online logistic regression over hashed binary features, trained with FTRL-proximal (McMahan et al., "Ad Click
/// Prediction: a View from the Trenches", KDD 2013): one update per learned message, per-bucket learning rates, so it
/// learns from a Junk move as it learns from a bulk training. Sparse: only buckets ever updated are stored. A user's
/// model is added to the global margin (<see cref="Margin"/>) and learns from the combined prediction's error, so it
/// holds only the user's corrections. Not thread-safe by itself: <see cref="SpamEngine"/> guards it with
/// <see cref="Lock"/>.
/// </summary>
internal sealed class LogisticModel(LogisticSettings settings) : ISpamModel
{
    /// <summary>Margins beyond this are clamped before the sigmoid (no overflow, and a bounded step size).</summary>
    private const double MaxMargin = 35;

    private static ReadOnlySpan<byte> Magic => "RSPL"u8;
    private const ushort FormatVersion = 1;
    private const int HeaderSize = 4 + 2 + 1 + 1 + 8 + 4;
    private const int RecordSize = 12;

    public LogisticModel()
        : this(LogisticSettings.Default)
    {
    }

    public LogisticSettings Settings { get; } = settings;

    public Dictionary<uint, FtrlCoefficient> Coefficients { get; } = [];

    /// <summary>Messages learned (updates made); kept for status and to tell an empty model.</summary>
    public long Updates { get; set; }

    public ReaderWriterLockSlim Lock { get; } = new(LockRecursionPolicy.NoRecursion);

    /// <summary>Changed since the last save.</summary>
    public bool Dirty { get; set; }

    /// <summary>The weight of one bucket (zero for buckets never updated, or held at zero by L1).</summary>
    public double Weight(uint bucket) => Coefficients.TryGetValue(bucket, out var c) ? Weight(c) : 0;

    private double Weight(FtrlCoefficient c)
    {
        var z = (double)c.Z;
        if (Math.Abs(z) <= Settings.L1)
        {
            return 0;
        }

        return -(z - (Math.Sign(z) * Settings.L1)) / (((Settings.Beta + Math.Sqrt(c.N)) / Settings.Alpha) + Settings.L2);
    }

    /// <summary>Feature value of each present bucket: 1, or 1/√count when normalised.</summary>
    public double Scale(int featureCount) => featureCount == 0 ? 0 : Settings.Normalize ? 1 / Math.Sqrt(featureCount) : 1;

    /// <summary>The log-odds of spam for a message's features (this model's share only).</summary>
    public double Margin(ReadOnlySpan<uint> features)
    {
        var x = Scale(features.Length);
        double sum = 0;
        foreach (var f in features)
        {
            if (Coefficients.TryGetValue(f, out var c))
            {
                sum += Weight(c);
            }
        }

        return sum * x;
    }

    public static double Probability(double margin) => 1 / (1 + Math.Exp(-Math.Clamp(margin, -MaxMargin, MaxMargin)));

    /// <summary>
    /// One FTRL step towards <paramref name="isSpam"/>. <paramref name="otherMargin"/> is what other models add to this
    /// one's margin for the same message (the global margin, when this is a user's model), so the step corrects the
    /// combined prediction.
    /// </summary>
    public void Update(ReadOnlySpan<uint> features, bool isSpam, double otherMargin = 0, double weight = 1)
    {
        var x = Scale(features.Length);
        var p = Probability(otherMargin + Margin(features));
        var g = (p - (isSpam ? 1 : 0)) * x * weight;
        var g2 = g * g;
        foreach (var f in features)
        {
            Coefficients.TryGetValue(f, out var c);
            var w = Weight(c);
            var sigma = (Math.Sqrt(c.N + g2) - Math.Sqrt(c.N)) / Settings.Alpha;
            c.Z += (float)(g - (sigma * w));
            c.N += (float)g2;
            Coefficients[f] = c;
        }

        Updates++;
        Dirty = true;
    }

    /// <summary>Serializes: header, coefficient records, then a SHA-256 of all that (detects damage).</summary>
    public byte[] Serialize()
    {
        var size = HeaderSize + (Coefficients.Count * RecordSize) + 32;
        var buffer = new byte[size];
        var span = buffer.AsSpan();
        ModelFile.WriteHeader(span, Magic, FormatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], Updates);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], Coefficients.Count);
        var at = HeaderSize;
        foreach (var (bucket, c) in Coefficients)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[at..], bucket);
            BinaryPrimitives.WriteSingleLittleEndian(span[(at + 4)..], c.Z);
            BinaryPrimitives.WriteSingleLittleEndian(span[(at + 8)..], c.N);
            at += RecordSize;
        }

        SHA256.HashData(span[..at], span[at..]);
        return buffer;
    }

    /// <summary>Reads a serialized model; throws <see cref="InvalidDataException"/> with the reason when damaged.</summary>
    public static LogisticModel Deserialize(ReadOnlySpan<byte> data, LogisticSettings settings)
    {
        ModelFile.CheckHeader(data, Magic, HeaderSize, FormatVersion, "logistic spam model");
        var count = BinaryPrimitives.ReadInt32LittleEndian(data[16..]);
        if (count < 0 || count > 1 << Tokenizer.BucketBits || (long)HeaderSize + ((long)count * RecordSize) + 32 != data.Length)
        {
            throw new InvalidDataException("length does not match the record count (truncated file?)");
        }

        ModelFile.CheckChecksum(data);

        var model = new LogisticModel(settings) { Updates = BinaryPrimitives.ReadInt64LittleEndian(data[8..]) };
        model.Coefficients.EnsureCapacity(count);
        var at = HeaderSize;
        for (var i = 0; i < count; i++, at += RecordSize)
        {
            var c = new FtrlCoefficient
            {
                Z = BinaryPrimitives.ReadSingleLittleEndian(data[(at + 4)..]),
                N = BinaryPrimitives.ReadSingleLittleEndian(data[(at + 8)..]),
            };
            if (!float.IsFinite(c.Z) || !float.IsFinite(c.N) || c.N < 0)
            {
                throw new InvalidDataException("coefficient out of range");
            }

            model.Coefficients[BinaryPrimitives.ReadUInt32LittleEndian(data[at..])] = c;
        }

        return model;
    }
}
