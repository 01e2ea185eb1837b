using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rempart.SenderAuth.Dkim;

public enum DkimKeyState
{
    /// <summary>Signs outbound mail.</summary>
    Active,

    /// <summary>Replaced by a rotation; keep its DNS record published until mail signed with it has been delivered.</summary>
    Retired,
}

/// <summary>One DKIM signing key of a domain.</summary>
/// <param name="PublicKey">Base64 SubjectPublicKeyInfo: the p= value of the DNS record.</param>
public sealed record DkimKeyRecord(
    string Domain,
    string Selector,
    DkimKeyState State,
    int Bits,
    DateTimeOffset Created,
    DateTimeOffset? RetiredAt,
    string PrivateKeyPath,
    string PublicKey)
{
    /// <summary>The DNS name to publish the TXT record at (RFC 6376 3.6.2.1).</summary>
    public string DnsName => Selector + "._domainkey." + Domain;
}

/// <summary>
/// DKIM signing keys on disk: <c>folder/DOMAIN/SELECTOR.pem</c> (PKCS#8, mode 0600) and <c>folder/DOMAIN/keys.json</c>
/// listing the keys and which one is active. Rotation writes the index last, so a reader sees the old or the new set.
/// </summary>
public sealed class DkimKeyStore
{
    public const string IndexFileName = "keys.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private readonly TimeProvider time;
    private readonly string selectorPrefix;

    public DkimKeyStore(string folder)
        : this(folder, "rempart", TimeProvider.System)
    {
    }

    public DkimKeyStore(string folder, string selectorPrefix, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentException.ThrowIfNullOrEmpty(selectorPrefix);
        Folder = Path.GetFullPath(folder);
        this.selectorPrefix = selectorPrefix.ToLowerInvariant();
        this.time = time ?? TimeProvider.System;
    }

    public string Folder { get; }

    /// <summary>The TXT record value to publish for a key (RFC 6376 3.6.1).</summary>
    public static string DnsRecord(DkimKeyRecord key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return "v=DKIM1; k=rsa; p=" + key.PublicKey;
    }

    /// <summary>
    /// Creates the first key of <paramref name="domain"/> and makes it active. Fails when the domain already has an
    /// active key (use <see cref="Rotate"/>) or the selector is taken.
    /// </summary>
    public DkimKeyRecord Generate(string domain, string? selector, int bits)
    {
        domain = NormalizeDomain(domain);
        var index = ReadIndex(domain);
        if (index.Active is not null)
        {
            throw new InvalidOperationException($"{domain} already has an active DKIM key (selector {index.Active}); use rotate to replace it.");
        }

        return AddActive(domain, index, selector, bits);
    }

    /// <summary>Makes a new active key; the previous active key stays listed as retired.</summary>
    public DkimKeyRecord Rotate(string domain, string? selector = null, int? bits = null)
    {
        domain = NormalizeDomain(domain);
        var index = ReadIndex(domain);
        var previous = index.Keys.FirstOrDefault(k => k.Selector == index.Active)
            ?? throw new InvalidOperationException($"{domain} has no active DKIM key; create one with generate.");
        return AddActive(domain, index, selector, bits ?? previous.Bits);
    }

    /// <summary>Every key of every domain, active first.</summary>
    public IReadOnlyList<DkimKeyRecord> List()
    {
        if (!Directory.Exists(Folder))
        {
            return [];
        }

        return Directory.EnumerateDirectories(Folder)
            .Select(Path.GetFileName)
            .Where(d => d is not null && File.Exists(Path.Combine(Folder, d, IndexFileName)))
            .Order(StringComparer.Ordinal)
            .SelectMany(d => Records(d!, ReadIndex(d!)).OrderBy(k => k.State).ThenByDescending(k => k.Created))
            .ToList();
    }

    /// <summary>The key that signs mail of <paramref name="domain"/>, or null.</summary>
    public DkimKeyRecord? GetActive(string domain)
    {
        domain = NormalizeDomain(domain);
        var index = ReadIndex(domain);
        return Records(domain, index).FirstOrDefault(k => k.State == DkimKeyState.Active);
    }

    /// <summary>The index file of a domain (its write time tells a signer to reload).</summary>
    public string IndexPath(string domain) => Path.Combine(Folder, NormalizeDomain(domain), IndexFileName);

    /// <summary>True when the active key is older than <paramref name="rotateAfter"/> (zero: never).</summary>
    public bool DueForRotation(DkimKeyRecord key, TimeSpan rotateAfter)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.State == DkimKeyState.Active && rotateAfter > TimeSpan.Zero && time.GetUtcNow() - key.Created >= rotateAfter;
    }

    private DkimKeyRecord AddActive(string domain, IndexFile index, string? selector, int bits)
    {
        if (bits is not (1024 or 2048 or 3072 or 4096))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "DKIM key size must be 1024, 2048, 3072 or 4096 bits.");
        }

        var now = time.GetUtcNow();
        selector = selector is null ? NewSelector(index, now) : NormalizeSelector(selector);
        if (index.Keys.Any(k => k.Selector == selector))
        {
            throw new InvalidOperationException($"{domain} already has a key with selector {selector}.");
        }

        var dir = Path.Combine(Folder, domain);
        if (!Directory.Exists(Folder) && !OperatingSystem.IsWindows())
        {
            // Only the server's user reads private keys.
            Directory.CreateDirectory(Folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Directory.CreateDirectory(dir);
        using var rsa = RSA.Create(bits);
        var keyPath = Path.Combine(dir, selector + ".pem");
        WritePrivate(keyPath, rsa.ExportPkcs8PrivateKeyPem() + "\n");

        foreach (var k in index.Keys.Where(k => k.State == DkimKeyState.Active))
        {
            k.State = DkimKeyState.Retired;
            k.Retired = now;
        }

        index.Keys.Add(new IndexEntry
        {
            Selector = selector,
            State = DkimKeyState.Active,
            Bits = bits,
            Created = now,
            PublicKey = Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()),
        });
        index.Active = selector;
        WriteIndex(domain, index);
        return Records(domain, index).First(k => k.Selector == selector);
    }

    private string NewSelector(IndexFile index, DateTimeOffset now)
    {
        var stem = selectorPrefix + now.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var candidate = stem;
        for (var n = 2; index.Keys.Any(k => k.Selector == candidate); n++)
        {
            candidate = stem + "-" + n.ToString(CultureInfo.InvariantCulture);
        }

        return candidate;
    }

    private IEnumerable<DkimKeyRecord> Records(string domain, IndexFile index) =>
        index.Keys.Select(k => new DkimKeyRecord(
            domain,
            k.Selector,
            k.Selector == index.Active ? DkimKeyState.Active : DkimKeyState.Retired,
            k.Bits,
            k.Created,
            k.Retired,
            Path.Combine(Folder, domain, k.Selector + ".pem"),
            k.PublicKey));

    private IndexFile ReadIndex(string domain)
    {
        var path = Path.Combine(Folder, domain, IndexFileName);
        if (!File.Exists(path))
        {
            return new IndexFile();
        }

        try
        {
            return JsonSerializer.Deserialize<IndexFile>(File.ReadAllText(path), Json) ?? new IndexFile();
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"DKIM key index {path} is not valid JSON: {ex.Message}", ex);
        }
    }

    private void WriteIndex(string domain, IndexFile index)
    {
        var path = Path.Combine(Folder, domain, IndexFileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(index, Json));
        File.Move(temp, path, overwrite: true);
    }

    private static void WritePrivate(string path, string pem)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(pem);
    }

    internal static string NormalizeDomain(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var d = domain.Trim().TrimEnd('.').ToLowerInvariant();
        var labels = d.Split('.');
        if (d.Length is 0 or > 253 || labels.Length < 2
            || labels.Any(l => l.Length is 0 or > 63 || l[0] == '-' || l[^1] == '-' || !l.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')))
        {
            throw new ArgumentException($"\"{domain}\" is not a domain name such as example.com.", nameof(domain));
        }

        return d;
    }

    private static string NormalizeSelector(string selector)
    {
        var s = selector.Trim().ToLowerInvariant();
        if (s.Length is 0 or > 63 || s[0] == '-' || !s.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            throw new ArgumentException($"\"{selector}\" is not a selector: use letters, digits and hyphens (one DNS label).", nameof(selector));
        }

        return s;
    }

    private sealed class IndexFile
    {
        public string? Active { get; set; }

        public List<IndexEntry> Keys { get; set; } = [];
    }

    private sealed class IndexEntry
    {
        public string Selector { get; set; } = "";

        public DkimKeyState State { get; set; }

        public int Bits { get; set; }

        public DateTimeOffset Created { get; set; }

        public DateTimeOffset? Retired { get; set; }

        public string PublicKey { get; set; } = "";
    }
}
