using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Security;
using Rempart.Telemetry;

namespace Rempart.SenderAuth;

/// <summary>
/// Signs outbound messages with the sending domain's active key from a <see cref="Dkim.DkimKeyStore"/>:
/// rsa-sha256, relaxed/relaxed (RFC 6376 3.4), the DKIM-Signature prepended to the unchanged bytes. A key rotated
/// by <c>rempart dkim rotate</c> is picked up on the next message (the domain's index file time is checked).
/// </summary>
public sealed partial class OutboundDkimSigner
{
    /// <summary>Headers signed when present (RFC 6376 5.4.1 recommends these; From is required).</summary>
    private static readonly HeaderId[] SignedHeaders =
    [
        HeaderId.From, HeaderId.To, HeaderId.Cc, HeaderId.Subject, HeaderId.Date, HeaderId.MessageId, HeaderId.MimeVersion,
        HeaderId.ContentType, HeaderId.ContentTransferEncoding, HeaderId.ReplyTo, HeaderId.InReplyTo, HeaderId.References,
        HeaderId.ListId, HeaderId.ListUnsubscribe, HeaderId.Sender,
    ];

    private readonly Dkim.DkimKeyStore keys;
    private readonly ILogger logger;
    private readonly Lock gate = new();
    private readonly Dictionary<string, ((DateTime Time, long Length) Index, DkimSigner? Signer)> signers = new(StringComparer.Ordinal);

    public OutboundDkimSigner(Dkim.DkimKeyStore keys, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(logger);
        this.keys = keys;
        this.logger = logger;
    }

    /// <summary>
    /// Returns <paramref name="message"/> with a DKIM-Signature header prepended, or the input unchanged when
    /// <paramref name="domain"/> has no active key or the key cannot be used (logged).
    /// </summary>
    public byte[] Sign(ReadOnlyMemory<byte> message, string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var signer = SignerFor(domain);
        if (signer is null)
        {
            return message.ToArray();
        }

        // Disposed when signed: MimeKit's messages have finalizers, so an undisposed parse outlives a GC.
        using var input = new MemoryStream(message.ToArray(), writable: false);
        using var parsed = MimeMessage.Load(input);
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        lock (gate)
        {
            // MimeKit's signer is not documented as thread-safe; signing is fast next to delivery.
            signer.Sign(options, parsed, SignedHeaders);
        }

        var header = parsed.Headers[0];
        if (header.Id != HeaderId.DkimSignature)
        {
            return message.ToArray();
        }

        // Prepend the header exactly as MimeKit folded it, with CRLF line ends, to the bytes as they were.
        var raw = Encoding.ASCII.GetString(header.RawValue).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        if (!raw.EndsWith("\r\n", StringComparison.Ordinal))
        {
            raw += "\r\n";
        }

        var prefix = Encoding.ASCII.GetBytes(header.Field + ":" + raw);
        var output = new byte[prefix.Length + message.Length];
        prefix.CopyTo(output, 0);
        message.Span.CopyTo(output.AsSpan(prefix.Length));
        return output;
    }

    private DkimSigner? SignerFor(string domain)
    {
        string path;
        try
        {
            path = keys.IndexPath(domain);
        }
        catch (ArgumentException)
        {
            return null;
        }

        // Time and length: a rotation within the file system's time resolution still changes the length.
        var info = new FileInfo(path);
        var stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, 0L);
        lock (gate)
        {
            if (signers.TryGetValue(path, out var cached) && cached.Index == stamp)
            {
                return cached.Signer;
            }
        }

        DkimSigner? signer = null;
        if (info.Exists)
        {
            try
            {
                var key = keys.GetActive(domain);
                if (key is not null)
                {
                    using var rsa = RSA.Create();
                    rsa.ImportFromPem(File.ReadAllText(key.PrivateKeyPath));
                    var pair = DotNetUtilities.GetRsaKeyPair(rsa.ExportParameters(includePrivateParameters: true));
                    signer = new DkimSigner(pair.Private, key.Domain, key.Selector, DkimSignatureAlgorithm.RsaSha256)
                    {
                        HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                        BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                    };
                    LogKeyLoaded(logger, key.Domain, key.Selector);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or InvalidDataException or ArgumentException)
            {
                // Sending unsigned beats not sending; the operator sees the warning and fixes the key.
                LogSignFailed(logger, domain, ex);
            }
        }

        lock (gate)
        {
            signers[path] = (stamp, signer);
        }

        return signer;
    }

    [LoggerMessage(EventId = (int)EventIds.DkimKeyLoaded, Level = LogLevel.Information, Message = "DKIM key {Selector} loaded for {Domain}")]
    private static partial void LogKeyLoaded(ILogger logger, string domain, string selector);

    [LoggerMessage(EventId = (int)EventIds.DkimSignFailed, Level = LogLevel.Warning, Message = "DKIM key of {Domain} cannot be used; mail is sent unsigned")]
    private static partial void LogSignFailed(ILogger logger, string domain, Exception ex);
}
