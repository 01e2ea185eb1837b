using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Rempart.Common.Dns;
using Rempart.Common.Configuration;

namespace Rempart.Smtp.Outbound;

public enum MxStatus
{
    /// <summary>Hosts to try, in order.</summary>
    Ok,

    /// <summary>RFC 7505 null MX: the domain accepts no mail (permanent).</summary>
    NullMx,

    /// <summary>NXDOMAIN, or neither MX nor A/AAAA records (RFC 5321 5.1): permanent.</summary>
    NoSuchDomain,

    /// <summary>Resolver timeout, SERVFAIL, MX hosts without addresses: try again later.</summary>
    TemporaryFailure,
}

/// <param name="Implicit">No MX record existed: the domain itself is the host (RFC 5321 5.1 implicit MX).</param>
public sealed record MxHost(string Name, int Preference, IReadOnlyList<IPAddress> Addresses, bool Implicit = false);

public sealed record MxResult(MxStatus Status, IReadOnlyList<MxHost> Hosts, string? Error)
{
    public static MxResult Fail(MxStatus status, string error) => new(status, [], error);
}

/// <summary>Finds the hosts that receive mail for a domain.</summary>
public interface IMxResolver
{
    Task<MxResult> ResolveAsync(string domain, CancellationToken ct = default);
}

/// <summary>The ordering rules of RFC 5321 section 5.1, kept apart from DNS I/O so they can be tested on records.</summary>
public static class MxOrdering
{
    /// <summary>
    /// Orders MX records by preference (lowest first), shuffling hosts of equal preference to spread load
    /// (RFC 5321 5.1: "the sender-SMTP MUST randomize them"). Returns null for a null MX (RFC 7505: a single MX
    /// with exchange "."), which means the domain accepts no mail. Records with exchange "." among others are dropped.
    /// </summary>
    public static IReadOnlyList<(string Host, int Preference)>? Order(IEnumerable<MxRecord> records, Random? random = null)
    {
        var list = records.ToList();
        if (list.Count == 1 && IsRoot(list[0].Exchange.Value))
        {
            return null;
        }

        random ??= Random.Shared;
        return list
            .Where(r => !IsRoot(r.Exchange.Value))
            .Select(r => (Host: r.Exchange.Value.TrimEnd('.').ToLowerInvariant(), Preference: (int)r.Preference, Key: random.Next()))
            .GroupBy(r => r.Host, StringComparer.Ordinal)
            .Select(g => g.OrderBy(r => r.Preference).First())
            .OrderBy(r => r.Preference)
            .ThenBy(r => r.Key)
            .Select(r => (r.Host, r.Preference))
            .ToList();
    }

    private static bool IsRoot(string name) => name is "." or "";
}

/// <summary>MX lookup with DnsClient against <see cref="DnsOptions.Servers"/> (or the system resolvers).</summary>
public sealed class DnsMxResolver : IMxResolver
{
    private readonly LookupClient _client;

    public DnsMxResolver(DnsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _client = DnsClientFactory.Create(options);
    }

    /// <summary>Parses "ip", "ip:port" or "[ipv6]:port" (see <see cref="DnsClientFactory.ParseServer"/>).</summary>
    public static IPEndPoint ParseServer(string value) => DnsClientFactory.ParseServer(value);

    public async Task<MxResult> ResolveAsync(string domain, CancellationToken ct = default)
    {
        domain = domain.Trim().TrimEnd('.').ToLowerInvariant();
        try
        {
            var response = await _client.QueryAsync(domain, QueryType.MX, QueryClass.IN, ct);
            if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
            {
                return MxResult.Fail(MxStatus.NoSuchDomain, $"domain {domain} does not exist (NXDOMAIN)");
            }

            if (response.HasError)
            {
                return MxResult.Fail(MxStatus.TemporaryFailure, $"MX lookup for {domain} failed: {response.ErrorMessage}");
            }

            var records = response.Answers.MxRecords().ToList();
            if (records.Count == 0)
            {
                // RFC 5321 5.1: no MX records, so the domain itself is treated as an implicit MX of preference 0.
                var (addresses, error) = await AddressesAsync(domain, ct);
                if (error is not null)
                {
                    return MxResult.Fail(MxStatus.TemporaryFailure, error);
                }

                return addresses.Count == 0
                    ? MxResult.Fail(MxStatus.NoSuchDomain, $"domain {domain} has no MX, A or AAAA records")
                    : new MxResult(MxStatus.Ok, [new MxHost(domain, 0, addresses, Implicit: true)], null);
            }

            var ordered = MxOrdering.Order(records);
            if (ordered is null)
            {
                return MxResult.Fail(MxStatus.NullMx, $"domain {domain} does not accept mail (null MX, RFC 7505)");
            }

            var hosts = new List<MxHost>();
            string? lastError = null;
            foreach (var (host, preference) in ordered)
            {
                var (addresses, error) = await AddressesAsync(host, ct);
                lastError = error ?? lastError;
                if (addresses.Count > 0)
                {
                    hosts.Add(new MxHost(host, preference, addresses));
                }
            }

            return hosts.Count > 0
                ? new MxResult(MxStatus.Ok, hosts, null)
                : MxResult.Fail(MxStatus.TemporaryFailure, lastError ?? $"no MX host of {domain} has an address");
        }
        catch (DnsResponseException ex)
        {
            return MxResult.Fail(MxStatus.TemporaryFailure, $"MX lookup for {domain} failed: {ex.Message}");
        }
    }

    private static readonly QueryType[] AddressTypes = [QueryType.A, QueryType.AAAA];

    /// <summary>A and AAAA addresses of a host (IPv4 first: more reachable from typical hosts; both are tried).</summary>
    private async Task<(IReadOnlyList<IPAddress> Addresses, string? Error)> AddressesAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return ([literal], null);
        }

        var result = new List<IPAddress>();
        string? error = null;
        foreach (var type in AddressTypes)
        {
            try
            {
                var response = await _client.QueryAsync(host, type, QueryClass.IN, ct);
                if (response.HasError && response.Header.ResponseCode != DnsHeaderResponseCode.NotExistentDomain)
                {
                    error = string.Create(CultureInfo.InvariantCulture, $"{type} lookup for {host} failed: {response.ErrorMessage}");
                    continue;
                }

                result.AddRange(response.Answers.OfType<AddressRecord>()
                    .Select(r => r.Address)
                    .Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6));
            }
            catch (DnsResponseException ex)
            {
                error = $"{type} lookup for {host} failed: {ex.Message}";
            }
        }

        return (result.Distinct().ToList(), result.Count == 0 ? error : null);
    }
}
