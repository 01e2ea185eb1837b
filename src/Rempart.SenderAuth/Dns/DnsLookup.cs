using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Rempart.Common.Configuration;
using Rempart.Common.Dns;

namespace Rempart.SenderAuth.Dns;

internal enum DnsOutcome
{
    /// <summary>At least one record of the asked type.</summary>
    Records,

    /// <summary>NXDOMAIN, or the name exists without records of the type: a "void lookup" for SPF (RFC 7208 4.6.4).</summary>
    Empty,

    /// <summary>SERVFAIL, refusal, timeout: the answer is unknown, so callers report a temporary error.</summary>
    Error,
}

internal sealed record DnsAnswer<T>(DnsOutcome Outcome, IReadOnlyList<T> Records, string? Error)
{
    public static DnsAnswer<T> Empty { get; } = new(DnsOutcome.Empty, [], null);

    public static DnsAnswer<T> Fail(string error) => new(DnsOutcome.Error, [], error);
}

/// <summary>
/// The few record types sender authentication reads, with the three outcomes SPF and DMARC tell apart.
/// A resolver that stops answering is not waited for on every message: after <see cref="TimeoutsToOpen"/> timeouts in
/// a row, lookups fail at once (a temporary error, as a timeout would) for <see cref="OpenFor"/>, then one lookup is
/// tried again; any answer closes the breaker. Without it each message would wait the timeout for every lookup
/// (SPF, DKIM keys, DMARC), which turns a DNS outage into a mail-flow outage.
/// </summary>
internal sealed class DnsLookup(ILookupClient client, TimeProvider? time = null)
{
    public const int TimeoutsToOpen = 3;

    public static readonly TimeSpan OpenFor = TimeSpan.FromSeconds(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private int _timeoutsInARow;
    private long _openUntil;

    /// <summary>True while lookups are skipped because the resolver stopped answering.</summary>
    public bool ResolverDown
    {
        get
        {
            lock (_gate)
            {
                return _timeoutsInARow >= TimeoutsToOpen && _time.GetTimestamp() < _openUntil;
            }
        }
    }

    /// <summary>The server's DNS client (<see cref="DnsClientFactory"/>): the same resolvers as MX lookups.</summary>
    public static LookupClient CreateClient(DnsOptions options) => DnsClientFactory.Create(options);

    /// <summary>TXT records, each one's character-strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2).</summary>
    public Task<DnsAnswer<string>> TxtAsync(string name, CancellationToken ct) =>
        QueryAsync(name, QueryType.TXT, r => r.Answers.TxtRecords().Select(t => string.Concat(t.Text)), ct);

    public Task<DnsAnswer<string>> MxAsync(string name, CancellationToken ct) =>
        QueryAsync(name, QueryType.MX, r => r.Answers.MxRecords().Select(m => m.Exchange.Value.TrimEnd('.')), ct);

    public Task<DnsAnswer<IPAddress>> AddressesAsync(string name, AddressFamily family, CancellationToken ct) =>
        QueryAsync(
            name,
            family == AddressFamily.InterNetworkV6 ? QueryType.AAAA : QueryType.A,
            r => r.Answers.OfType<AddressRecord>().Select(a => a.Address).Where(a => a.AddressFamily == family),
            ct);

    public Task<DnsAnswer<string>> PtrAsync(IPAddress address, CancellationToken ct) =>
        QueryAsync(address.GetArpaName(), QueryType.PTR, r => r.Answers.PtrRecords().Select(p => p.PtrDomainName.Value.TrimEnd('.')), ct);

    private async Task<DnsAnswer<T>> QueryAsync<T>(string name, QueryType type, Func<IDnsQueryResponse, IEnumerable<T>> select, CancellationToken ct)
    {
        if (ResolverDown)
        {
            return DnsAnswer<T>.Fail($"{type} lookup for {name} skipped: the resolver did not answer the last {TimeoutsToOpen} lookups");
        }

        IDnsQueryResponse response;
        try
        {
            response = await client.QueryAsync(name, type, QueryClass.IN, ct);
        }
        catch (DnsResponseException ex)
        {
            if (ex.Code == DnsResponseCode.ConnectionTimeout)
            {
                RecordTimeout();
            }

            return DnsAnswer<T>.Fail($"{type} lookup for {name} failed: {ex.Message}");
        }

        catch (ArgumentException ex)
        {
            // DnsClient refuses names it cannot encode (labels over 63 octets, empty labels): nothing can exist there.
            _ = ex;
            return DnsAnswer<T>.Empty;
        }

        // Any answer, even an error code, means the resolver is there.
        lock (_gate)
        {
            _timeoutsInARow = 0;
        }

        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            return DnsAnswer<T>.Empty;
        }

        if (response.HasError)
        {
            return DnsAnswer<T>.Fail($"{type} lookup for {name} failed: {response.ErrorMessage}");
        }

        var records = select(response).ToList();
        return records.Count == 0 ? DnsAnswer<T>.Empty : new DnsAnswer<T>(DnsOutcome.Records, records, null);
    }

    private void RecordTimeout()
    {
        lock (_gate)
        {
            if (++_timeoutsInARow >= TimeoutsToOpen)
            {
                _openUntil = _time.GetTimestamp() + (long)(OpenFor.TotalSeconds * _time.TimestampFrequency);
            }
        }
    }
}
