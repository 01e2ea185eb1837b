namespace Rempart.Common.Configuration;

/// <summary>
/// Options of the protection pipeline's SenderAuth part: SPF, DKIM, ARC, DMARC checks of inbound mail and the DKIM
/// keys used to sign outbound mail (docs/protection/authentication.md).
/// </summary>
public sealed class SenderAuthOptions
{
    /// <summary>Check SPF, DKIM, ARC and DMARC on inbound mail.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The Public Suffix List used to find a domain's organizational domain (DMARC alignment, RFC 7489 3.2). Debian
    /// package "publicsuffix". When the file is missing, the last two labels of a name are its organizational domain.
    /// </summary>
    public string PublicSuffixListPath { get; set; } = "/usr/share/publicsuffix/public_suffix_list.dat";

    /// <summary>Prefix of generated DKIM selectors: "rempart" gives "rempart20261128".</summary>
    public string DkimSelectorPrefix { get; set; } = "rempart";

    /// <summary>RSA key size of generated DKIM keys: 1024, 2048 (default), 3072 or 4096 bits.</summary>
    public int DkimKeyBits { get; set; } = 2048;

    /// <summary>Age after which <c>rempart dkim list</c> reports a key as due for rotation (zero: never).</summary>
    public TimeSpan DkimRotateAfter { get; set; } = TimeSpan.FromDays(180);

    /// <summary>How long a DKIM public key fetched from DNS is reused before it is fetched again.</summary>
    public TimeSpan DkimKeyCacheTime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>DKIM-Signature headers verified per message; further ones are ignored (each costs a DNS lookup).</summary>
    public int MaxDkimSignatures { get; set; } = 10;

    /// <summary>DNS-querying SPF terms per check (RFC 7208 4.6.4 says 10): more is a permerror.</summary>
    public int SpfLookupLimit { get; set; } = 10;

    /// <summary>SPF lookups answering NXDOMAIN or nothing (RFC 7208 4.6.4 suggests 2): more is a permerror.</summary>
    public int SpfVoidLookupLimit { get; set; } = 2;

    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (string.IsNullOrEmpty(DkimSelectorPrefix) || DkimSelectorPrefix.Length > 40
            || !DkimSelectorPrefix.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') || DkimSelectorPrefix[0] == '-')
        {
            yield return $"'{prefix}.dkimSelectorPrefix': use 1 to 40 letters, digits or hyphens (a DNS label), for example \"rempart\".";
        }

        if (DkimKeyBits is not (1024 or 2048 or 3072 or 4096))
        {
            yield return $"'{prefix}.dkimKeyBits': must be 1024, 2048, 3072 or 4096 (2048 is the usual choice).";
        }

        if (DkimRotateAfter < TimeSpan.Zero)
        {
            yield return $"'{prefix}.dkimRotateAfter': must be zero (never) or positive, for example \"180.00:00:00\".";
        }

        if (DkimKeyCacheTime < TimeSpan.Zero)
        {
            yield return $"'{prefix}.dkimKeyCacheTime': must be zero (no cache) or positive.";
        }

        if (MaxDkimSignatures is < 1 or > 50)
        {
            yield return $"'{prefix}.maxDkimSignatures': must be between 1 and 50.";
        }

        if (SpfLookupLimit is < 1 or > 100 || SpfVoidLookupLimit is < 0 or > 100)
        {
            yield return $"'{prefix}.spfLookupLimit': lookup limits lie between 1 and 100 (void limit 0 to 100); RFC 7208 uses 10 and 2.";
        }
    }
}
