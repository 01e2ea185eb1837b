using System.Collections.Concurrent;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Rempart.SenderAuth.Dns;

namespace Rempart.SenderAuth.Dkim;

/// <summary>Why a DKIM key could not be had: <see cref="Temporary"/> maps to temperror, otherwise permerror.</summary>
public sealed class DkimKeyException : Exception
{
    public DkimKeyException()
    {
    }

    public DkimKeyException(string message)
        : base(message)
    {
    }

    public DkimKeyException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public DkimKeyException(string message, bool temporary)
        : base(message) => Temporary = temporary;

    public bool Temporary { get; }
}

/// <summary>
/// MimeKit's key locator over our DNS client: reads "selector._domainkey.domain" TXT (RFC 6376 3.6.2) and keeps keys
/// (and permanent failures) for a while, since every message of a bulk sender names the same key.
/// </summary>
internal sealed class DnsDkimKeyLocator(DnsLookup dns, TimeSpan cacheTime, TimeProvider time) : IDkimPublicKeyLocator
{
    private const int MaxCacheEntries = 1000;
    private readonly ConcurrentDictionary<string, (DateTimeOffset Expires, AsymmetricKeyParameter? Key, string? Error)> cache = new(StringComparer.Ordinal);

    public AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

    public async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default)
    {
        // RFC 6376 3.5: "dns/txt" is the only query method defined.
        if (!string.IsNullOrEmpty(methods) && !methods.Split(':').Any(m => m.Trim().Equals("dns/txt", StringComparison.OrdinalIgnoreCase)))
        {
            throw new DkimKeyException($"unsupported key query method \"{methods}\"", temporary: false);
        }

        var name = (selector + "._domainkey." + domain).TrimEnd('.').ToLowerInvariant();
        var now = time.GetUtcNow();
        if (cache.TryGetValue(name, out var hit) && hit.Expires > now)
        {
            return hit.Key ?? throw new DkimKeyException(hit.Error!, temporary: false);
        }

        var answer = await dns.TxtAsync(name, cancellationToken);
        if (answer.Outcome == DnsOutcome.Error)
        {
            throw new DkimKeyException(answer.Error ?? "key lookup failed", temporary: true);
        }

        AsymmetricKeyParameter? key = null;
        string? error;
        if (answer.Outcome == DnsOutcome.Empty)
        {
            error = $"no key record at {name}";
        }
        else
        {
            (key, error) = ParseKeyRecord(answer.Records[0]);
            if (answer.Records.Count > 1)
            {
                // RFC 6376 3.6.2.2: several records give undefined results; use the first that parses.
                foreach (var other in answer.Records.Skip(1))
                {
                    if (key is not null)
                    {
                        break;
                    }

                    (key, _) = ParseKeyRecord(other);
                }
            }
        }

        if (cacheTime > TimeSpan.Zero)
        {
            if (cache.Count >= MaxCacheEntries)
            {
                cache.Clear();
            }

            cache[name] = (now + cacheTime, key, error);
        }

        return key ?? throw new DkimKeyException(error ?? $"unusable key record at {name}", temporary: false);
    }

    /// <summary>Parses "v=DKIM1; k=rsa; p=..." (RFC 6376 3.6.1). An empty p= means the key was revoked.</summary>
    internal static (AsymmetricKeyParameter? Key, string? Error) ParseKeyRecord(string txt)
    {
        var tags = TagList.Parse(txt);
        if (tags is null)
        {
            return (null, "malformed key record");
        }

        if (tags.TryGetValue("v", out var v) && v != "DKIM1")
        {
            return (null, $"key record version \"{v}\" is not DKIM1");
        }

        var k = tags.GetValueOrDefault("k", "rsa");
        if (!tags.TryGetValue("p", out var p))
        {
            return (null, "key record has no p= tag");
        }

        p = string.Concat(p.Where(c => !char.IsWhiteSpace(c)));
        if (p.Length == 0)
        {
            return (null, "key revoked (empty p=)");
        }

        byte[] data;
        try
        {
            data = Convert.FromBase64String(p);
        }
        catch (FormatException)
        {
            return (null, "key record p= is not base64");
        }

        try
        {
            return k switch
            {
                "rsa" => (PublicKeyFactory.CreateKey(data), null),
                "ed25519" when data.Length == 32 => (new Ed25519PublicKeyParameters(data, 0), null),
                _ => (null, $"unsupported key type k={k}"),
            };
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // BouncyCastle throws several exception types for bad DER; all mean the same to a verifier.
            return (null, "key record p= is not a public key: " + ex.GetType().Name);
        }
    }
}

/// <summary>DKIM/DMARC "tag=value; tag=value" lists (RFC 6376 3.2, RFC 7489 6.4).</summary>
internal static class TagList
{
    /// <summary>Tags by name (case-sensitive, values trimmed), or null when a tag repeats or lacks "=".</summary>
    public static Dictionary<string, string>? Parse(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split(';'))
        {
            var item = part.Trim();
            if (item.Length == 0)
            {
                continue;
            }

            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return null;
            }

            if (!result.TryAdd(item[..eq].Trim(), item[(eq + 1)..].Trim()))
            {
                return null;
            }
        }

        return result;
    }
}
