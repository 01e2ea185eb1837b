using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DnsClient;

namespace Rempart.Protection.Reputation;

/// <summary>
/// DNS block lists (RFC 5782): the client address, reversed (octets for IPv4, nibbles for IPv6), is looked up under
/// each zone; an A record in 127.0.0.0/8 means listed. Answers in 127.255.255.0/24 are the lists' error codes (for
/// example a query through an open resolver) and never count as a listing.
/// </summary>
public sealed class DnsblChecker(ILookupClient dns, IReadOnlyList<string> zones)
{
    public bool IsEmpty => zones.Count == 0;

    /// <summary>The first zone that lists the address, with the answer, or null.</summary>
    public async Task<DnsblListing?> CheckAsync(IPAddress address, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (zones.Count == 0)
        {
            return null;
        }

        var reversed = Reverse(address);
        foreach (var zone in zones)
        {
            IDnsQueryResponse response;
            try
            {
                response = await dns.QueryAsync(reversed + "." + zone.TrimEnd('.'), QueryType.A, QueryClass.IN, ct);
            }
            catch (DnsResponseException)
            {
                continue;
            }

            foreach (var a in response.Answers.ARecords())
            {
                var b = a.Address.GetAddressBytes();
                if (b[0] == 127 && !(b[1] == 255 && b[2] == 255))
                {
                    return new DnsblListing(zone, a.Address.ToString());
                }
            }
        }

        return null;
    }

    internal static string Reverse(IPAddress address)
    {
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        var bytes = a.GetAddressBytes();
        if (a.AddressFamily == AddressFamily.InterNetwork)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes[3]}.{bytes[2]}.{bytes[1]}.{bytes[0]}");
        }

        var sb = new StringBuilder(64);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{bytes[i] & 0xF:x}.{bytes[i] >> 4:x}");
            if (i > 0)
            {
                sb.Append('.');
            }
        }

        return sb.ToString();
    }
}

/// <summary>A DNSBL hit: the zone and the 127.0.0.x answer (its meaning is the list's own).</summary>
public sealed record DnsblListing(string Zone, string Answer);
