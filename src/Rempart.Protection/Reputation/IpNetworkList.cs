using System.Net;

namespace Rempart.Protection.Reputation;

/// <summary>A list of addresses and CIDR ranges (IPv4 and IPv6); IPv4-mapped IPv6 addresses match their IPv4 form.</summary>
public sealed class IpNetworkList
{
    private readonly IPNetwork[] _networks;

    public IpNetworkList(IEnumerable<string> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _networks = [.. entries.Select(Parse)];
    }

    public bool IsEmpty => _networks.Length == 0;

    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var n in _networks)
        {
            if (n.Contains(a))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>"192.0.2.1" (a host) or "192.0.2.0/24"; the configuration loader has already checked the syntax.</summary>
    public static IPNetwork Parse(string entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (IPNetwork.TryParse(entry, out var network))
        {
            return network;
        }

        if (IPAddress.TryParse(entry, out var ip))
        {
            return new IPNetwork(ip, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        }

        throw new FormatException($"'{entry}' is not an IP address or CIDR range.");
    }
}
