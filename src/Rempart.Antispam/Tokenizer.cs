using System.Text.RegularExpressions;
using MimeKit;

namespace Rempart.Antispam;

/// <summary>
/// Turns a message into a set of hashed tokens (feature buckets). A token is a lower-cased word of the subject or
/// of the text, or a header fact ("from:example.com", "rcvd:mx.example.net", "url:bit.ly"), each kind with its own
/// prefix so that "free" in the subject and in the body are different evidence. Tokens are hashed (FNV-1a, 64 bits,
/// folded) into a fixed space of 2^<see cref="BucketBits"/> buckets, so the model never stores the words themselves.
/// </summary>
internal static partial class Tokenizer
{
    /// <summary>2^22 buckets: collisions stay rare for the few hundred thousand distinct tokens a large corpus has.</summary>
    public const int BucketBits = 22;

    /// <summary>Distinct tokens per message; the rest is ignored (bounded work and model growth).</summary>
    public const int MaxTokensPerMessage = 4000;

    private const int MaxWordLength = 24;
    private const int MaxReceived = 6;

    public static HashSet<uint> Tokenize(MimeMessage message, MessageContent content)
    {
        var set = new HashSet<uint>();
        var sink = new Sink(set);
        Words(content.Subject, "s:", sink);
        foreach (var text in content.Texts)
        {
            Words(text, "", sink);
        }

        Headers(message, sink);
        foreach (var url in content.Urls.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (MessageContent.HostOf(url) is { } host)
            {
                sink.Add("url:" + host);
                sink.Add("url:d:" + MessageContent.RegistrableDomain(host));
            }
        }

        if (content.HasHtml && !content.HasPlainText)
        {
            sink.Add("meta:html-only");
        }

        sink.Add("meta:images:" + Math.Min(content.ImageCount, 5));
        sink.Add("meta:urls:" + Bucket(content.Urls.Count));
        return set;
    }

    /// <summary>
    /// The tokens Bayes counts: <paramref name="tokens"/> (which the logistic model gets too) plus the header-shape
    /// tokens of <see cref="FeatureTokens"/>, within <see cref="MaxTokensPerMessage"/>. A model trained before these
    /// tokens existed simply has no counts for them, so it scores as before until it is trained again.
    /// </summary>
    public static HashSet<uint> BayesTokens(MimeMessage message, HashSet<uint> tokens)
    {
        var set = new HashSet<uint>(tokens);
        var sink = new Sink(set);
        FeatureTokens.Headers(message, sink);
        FeatureTokens.Origin(message, sink);
        return set;
    }

    /// <summary>Bytes of the raw message (headers first) whose 4-byte windows are logistic features.</summary>
    public const int ByteGramBytes = 3000;

    /// <summary>
    /// The features of the logistic model: the tokens, one per rule that hit (its name, not its points: the model
    /// learns its own weight), a bias feature every message has, and the overlapping 4-byte windows of the first
    /// <see cref="ByteGramBytes"/> bytes of the raw message, the binary 4-gram features of Sculley and Wachman's online
    /// spam filters (TREC 2007), which see headers and obfuscated words as sent.
    /// </summary>
    public static uint[] LogisticFeatures(ReadOnlySpan<byte> raw, HashSet<uint> tokens, IReadOnlyList<SpamRuleHit> hits)
    {
        var set = new HashSet<uint>(tokens);
        foreach (var hit in hits)
        {
            set.Add(Hash("rule:", hit.Name));
        }

        set.Add(Hash("", "bias"));
        ByteGrams(raw, ByteGramBytes, set);
        return [.. set];
    }

    /// <summary>Overlapping 4-byte windows of the first <paramref name="max"/> bytes, hashed into the bucket space.</summary>
    public static void ByteGrams(ReadOnlySpan<byte> raw, int max, HashSet<uint> set)
    {
        raw = raw.Length > max ? raw[..max] : raw;
        const uint mask = (1u << BucketBits) - 1;
        for (var i = 0; i + 4 <= raw.Length; i++)
        {
            // A 32-bit integer mix (murmur3 finaliser) so nearby byte values spread over the buckets.
            var h = (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(raw[i..]) ^ 0x9E3779B9u) * 0x85EBCA6Bu;
            h ^= h >> 15;
            h *= 0xC2B2AE35u;
            h ^= h >> 13;
            set.Add(h & mask);
        }
    }

    private static int Bucket(int n) => n switch { 0 => 0, < 3 => 1, < 10 => 2, < 30 => 3, _ => 4 };

    private static void Headers(MimeMessage message, Sink sink)
    {
        foreach (var from in message.From.Mailboxes.Take(3))
        {
            var domain = from.Domain?.ToLowerInvariant();
            if (!string.IsNullOrEmpty(domain))
            {
                sink.Add("from:" + domain);
                sink.Add("from:d:" + MessageContent.RegistrableDomain(domain));
            }

            if (!string.IsNullOrEmpty(from.Name))
            {
                Words(from.Name, "fromname:", sink);
            }
        }

        foreach (var reply in message.ReplyTo.Mailboxes.Take(3))
        {
            if (!string.IsNullOrEmpty(reply.Domain))
            {
                sink.Add("replyto:" + reply.Domain.ToLowerInvariant());
            }
        }

        var names = 0;
        var received = 0;
        foreach (var header in message.Headers)
        {
            if (++names > 100)
            {
                break;
            }

            var field = header.Field.ToLowerInvariant();
            sink.Add("hdr:" + field);
            switch (header.Id)
            {
                case HeaderId.XMailer:
                case HeaderId.UserAgent:
                    sink.Add("xm:" + Truncate(header.Value.Trim().ToLowerInvariant(), 60));
                    Words(Truncate(header.Value, 200), "xmw:", sink);
                    break;
                case HeaderId.Received when received++ < MaxReceived:
                    ReceivedHosts(Truncate(header.Value, 500), sink);
                    break;
                case HeaderId.MessageId:
                    var at = header.Value.LastIndexOf('@');
                    if (at >= 0)
                    {
                        sink.Add("mid:" + Truncate(header.Value[(at + 1)..].Trim().TrimEnd('>').ToLowerInvariant(), 100));
                    }

                    break;
                case HeaderId.ContentType:
                    sink.Add("ct:" + Truncate(header.Value.Split(';')[0].Trim().ToLowerInvariant(), 60));
                    break;
                default:
                    break;
            }
        }

        foreach (var part in message.BodyParts.Take(20))
        {
            sink.Add("part:" + part.ContentType.MimeType.ToLowerInvariant());
            if (part.ContentType.Charset is { } charset)
            {
                sink.Add("charset:" + charset.ToLowerInvariant());
            }

            if (part is MimePart mp)
            {
                sink.Add("cte:" + mp.ContentTransferEncoding.ToString().ToLowerInvariant());
            }
        }

        sink.Add("to:" + Bucket(message.To.Count + message.Cc.Count));
    }

    private static void ReceivedHosts(string value, Sink sink)
    {
        try
        {
            foreach (Match m in ReceivedHost().Matches(value))
            {
                var host = m.Groups["host"].Value.Trim('(', ')', '[', ']', ';').ToLowerInvariant();
                if (host.Length == 0)
                {
                    continue;
                }

                sink.Add("rcvd:" + host);
                if (host.Contains('.', StringComparison.Ordinal) && !char.IsDigit(host[^1]))
                {
                    sink.Add("rcvd:d:" + MessageContent.RegistrableDomain(host));
                }
            }
        }
        catch (RegexMatchTimeoutException)
        {
            // Hosts found so far are kept.
        }
    }

    /// <summary>Words: runs of letters, digits, '$', '\'' and inner '-' or '.'; long ones become a "skip" token by length.</summary>
    internal static void Words(string text, string prefix, Sink sink)
    {
        Span<char> word = stackalloc char[MaxWordLength];
        var length = 0;
        var runLength = 0;
        for (var i = 0; i <= text.Length && !sink.Full; i++)
        {
            var c = i < text.Length ? text[i] : ' ';
            var inner = (c is '-' or '.' or '\'') && runLength > 0 && i + 1 < text.Length && char.IsLetterOrDigit(text[i + 1]);
            if (char.IsLetterOrDigit(c) || c == '$' || inner)
            {
                if (length < MaxWordLength)
                {
                    word[length++] = char.ToLowerInvariant(c);
                }

                runLength++;
                continue;
            }

            if (runLength > MaxWordLength)
            {
                // SpamBayes's trick: a very long "word" (base64 debris, tracking ids) says little by itself, but its
                // first character and rough length do.
                sink.Add(prefix + "skip:" + word[0] + ":" + (runLength / 10 * 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (runLength >= 2)
            {
                sink.Add(prefix, word[..length]);
            }

            length = 0;
            runLength = 0;
        }
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    /// <summary>FNV-1a 64 over the UTF-16 code units of prefix and token, folded into <see cref="BucketBits"/> bits.</summary>
    public static uint Hash(ReadOnlySpan<char> prefix, ReadOnlySpan<char> token)
    {
        const ulong offset = 14695981039346656037UL;
        const ulong prime = 1099511628211UL;
        var h = offset;
        foreach (var c in prefix)
        {
            h = (h ^ c) * prime;
        }

        foreach (var c in token)
        {
            h = (h ^ c) * prime;
        }

        var folded = (uint)(h ^ (h >> 32));
        return folded & ((1u << BucketBits) - 1);
    }

    internal sealed class Sink(HashSet<uint> set)
    {
        public bool Full => set.Count >= MaxTokensPerMessage;

        public void Add(string token) => Add("", token);

        public void Add(ReadOnlySpan<char> prefix, ReadOnlySpan<char> token)
        {
            if (!Full)
            {
                set.Add(Hash(prefix, token));
            }
        }
    }

    [GeneratedRegex(@"\b(?:from|by)\s+(?<host>[^\s;]{1,255})", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ReceivedHost();
}
