using System.Net;
using DnsClient;
using Rempart.Common.Configuration;

namespace Rempart.Common.Dns;

/// <summary>
/// The one place a DNS client is built from <see cref="DnsOptions"/> (MX lookups, SPF/DKIM/DMARC, DNSBLs), so every
/// part of the server asks the same resolvers with the same timeout; tests point them at a DNS server on loopback.
/// </summary>
public static class DnsClientFactory
{
    /// <summary>The configured servers (or the system's), the configured timeout, one retry, caching on.</summary>
    public static LookupClient Create(DnsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var servers = options.Servers.Select(ParseServer).ToArray();
        var lookupOptions = servers.Length > 0 ? new LookupClientOptions(servers) : new LookupClientOptions();
        lookupOptions.Timeout = options.Timeout;
        lookupOptions.Retries = 1;
        lookupOptions.UseCache = true;
        lookupOptions.ThrowDnsErrors = false;
        lookupOptions.ContinueOnDnsError = false;
        lookupOptions.ContinueOnEmptyResponse = false;
        return new LookupClient(lookupOptions);
    }

    /// <summary>Parses "ip", "ip:port" or "[ipv6]:port" (port 53 when none is given).</summary>
    public static IPEndPoint ParseServer(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        // IPEndPoint reads "ip", "ip:port" and "[ipv6]:port"; port 0 means none was given.
        if (IPEndPoint.TryParse(value, out var endpoint))
        {
            return endpoint.Port == 0 ? new IPEndPoint(endpoint.Address, 53) : endpoint;
        }

        throw new ArgumentException($"DNS server \"{value}\" is not \"ip\" or \"ip:port\".", nameof(value));
    }
}
