using System.Net;
using System.Net.Sockets;
using Rempart.SenderAuth.Dns;

namespace Rempart.SenderAuth.Spf;

/// <summary>The RFC 7208 check_host() function over <see cref="DnsLookup"/>.</summary>
internal sealed class SpfEvaluator(DnsLookup dns, int lookupLimit, int voidLimit)
{
    /// <summary>RFC 7208 4.6.4: an MX or PTR answer yields at most 10 names to look up.</summary>
    private const int MaxNamesPerMechanism = 10;

    /// <summary>Checks MAIL FROM, or the HELO identity for the null sender (RFC 7208 2.3, 2.4).</summary>
    public async Task<SpfResult> CheckAsync(IPAddress client, string helo, string mailFrom, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        helo = (helo ?? "").Trim().TrimEnd('.');
        mailFrom = (mailFrom ?? "").Trim().Trim('<', '>');
        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }

        var checkedHelo = mailFrom.Length == 0;
        string sender;
        if (checkedHelo)
        {
            sender = "postmaster@" + helo;
        }
        else
        {
            var at = mailFrom.LastIndexOf('@');

            // RFC 7208 4.3: a sender without a local-part is "postmaster@domain".
            sender = at < 0 ? "postmaster@" + mailFrom : at == 0 ? "postmaster" + mailFrom : mailFrom;
        }

        var domain = sender[(sender.LastIndexOf('@') + 1)..].TrimEnd('.').ToLowerInvariant();
        var result = new SpfResult(SpfStatus.None, domain, null) { MailFrom = mailFrom, Helo = helo, CheckedHelo = checkedHelo };
        if (!IsValidDomain(domain))
        {
            // RFC 7208 4.3: a malformed or single-label domain (or an address literal HELO) gives "none".
            return result with { Explanation = $"\"{domain}\" is not a domain name" };
        }

        var context = new SpfMacroContext(sender, domain, client, helo.Length == 0 ? "unknown" : helo);
        var state = new State();
        var (status, explanation) = await CheckHostAsync(context, domain, state, ct);
        return result with { Status = status, Explanation = explanation };
    }

    private sealed class State
    {
        public int Lookups;
        public int Voids;
    }

    private sealed class SpfAbort(SpfStatus status, string message) : Exception(message)
    {
        public SpfStatus Status { get; } = status;
    }

    private async Task<(SpfStatus Status, string? Explanation)> CheckHostAsync(SpfMacroContext context, string domain, State state, CancellationToken ct)
    {
        try
        {
            return await EvaluateAsync(context with { Domain = domain }, state, ct);
        }
        catch (SpfAbort ex)
        {
            return (ex.Status, ex.Message);
        }
        catch (SpfMacroException ex)
        {
            return (SpfStatus.PermError, ex.Message);
        }
    }

    private async Task<(SpfStatus Status, string? Explanation)> EvaluateAsync(SpfMacroContext context, State state, CancellationToken ct)
    {
        var domain = context.Domain;
        if (!IsValidDomain(domain))
        {
            return (SpfStatus.None, $"\"{domain}\" is not a domain name");
        }

        var txt = await dns.TxtAsync(domain, ct);
        if (txt.Outcome == DnsOutcome.Error)
        {
            return (SpfStatus.TempError, txt.Error);
        }

        var records = txt.Records.Where(SpfRecord.IsSpfRecord).ToList();
        if (records.Count == 0)
        {
            return (SpfStatus.None, $"{domain} has no SPF record");
        }

        if (records.Count > 1)
        {
            // RFC 7208 4.5: several SPF records are a permerror, not a choice.
            return (SpfStatus.PermError, $"{domain} has {records.Count} SPF records");
        }

        if (!SpfRecord.TryParse(records[0], out var record, out var syntaxError))
        {
            return (SpfStatus.PermError, $"SPF record of {domain}: {syntaxError}");
        }

        foreach (var mechanism in record.Mechanisms)
        {
            if (await MatchesAsync(mechanism, context, state, ct))
            {
                var explanation = mechanism.Result == SpfStatus.Fail && record.Explanation is not null
                    ? await ExplainAsync(record.Explanation, context, ct)
                    : null;
                return (mechanism.Result, explanation);
            }
        }

        if (record.Redirect is not null)
        {
            // RFC 7208 6.1: redirect applies only when no mechanism matched, and "all" makes it unreachable.
            Count(state);
            var target = SpfMacro.ExpandDomain(record.Redirect, context);
            var (status, why) = await CheckHostAsync(context, target, state, ct);
            return status == SpfStatus.None ? (SpfStatus.PermError, $"redirect target {target} has no SPF record") : (status, why);
        }

        return (SpfStatus.Neutral, null);
    }

    private async Task<bool> MatchesAsync(SpfMechanism m, SpfMacroContext context, State state, CancellationToken ct)
    {
        var ip = context.Ip;
        var family = ip.AddressFamily;
        switch (m.Kind)
        {
            case SpfMechanismKind.All:
                return true;
            case SpfMechanismKind.Ip4:
                return family == AddressFamily.InterNetwork && InNetwork(ip, m.Address!, m.Cidr4);
            case SpfMechanismKind.Ip6:
                return family == AddressFamily.InterNetworkV6 && InNetwork(ip, m.Address!, m.Cidr6);
            case SpfMechanismKind.Include:
            {
                Count(state);
                var target = SpfMacro.ExpandDomain(m.DomainSpec!, context);
                var (status, why) = await CheckHostAsync(context, target, state, ct);

                // RFC 7208 5.2: the include table.
                return status switch
                {
                    SpfStatus.Pass => true,
                    SpfStatus.Fail or SpfStatus.SoftFail or SpfStatus.Neutral => false,
                    SpfStatus.TempError => throw new SpfAbort(SpfStatus.TempError, why ?? $"include:{target} failed"),
                    _ => throw new SpfAbort(SpfStatus.PermError, status == SpfStatus.None ? $"include:{target} has no SPF record" : why ?? $"include:{target} is broken"),
                };
            }

            case SpfMechanismKind.A:
            {
                Count(state);
                var target = Target(m, context);
                var answer = Check(await dns.AddressesAsync(target, family, ct), state);
                return answer.Any(a => InNetwork(ip, a, Prefix(m, family)));
            }

            case SpfMechanismKind.Mx:
            {
                Count(state);
                var target = Target(m, context);
                var exchanges = Check(await dns.MxAsync(target, ct), state);
                if (exchanges.Count > MaxNamesPerMechanism)
                {
                    throw new SpfAbort(SpfStatus.PermError, $"mx:{target} has more than {MaxNamesPerMechanism} MX records");
                }

                foreach (var host in exchanges)
                {
                    var addresses = await dns.AddressesAsync(host, family, ct);
                    if (addresses.Outcome == DnsOutcome.Error)
                    {
                        throw new SpfAbort(SpfStatus.TempError, addresses.Error!);
                    }

                    if (addresses.Records.Any(a => InNetwork(ip, a, Prefix(m, family))))
                    {
                        return true;
                    }
                }

                return false;
            }

            case SpfMechanismKind.Ptr:
            {
                Count(state);
                var target = Target(m, context);
                var names = await dns.PtrAsync(ip, ct);
                if (names.Outcome == DnsOutcome.Empty)
                {
                    Void(state);
                }

                // RFC 7208 5.5: a DNS error on the PTR lookup just means no match.
                foreach (var name in names.Records.Take(MaxNamesPerMechanism))
                {
                    if (!name.Equals(target, StringComparison.OrdinalIgnoreCase) && !name.EndsWith("." + target, StringComparison.OrdinalIgnoreCase))
                    {
                        continue;
                    }

                    var forward = await dns.AddressesAsync(name, family, ct);
                    if (forward.Records.Any(a => a.Equals(ip)))
                    {
                        return true;
                    }
                }

                return false;
            }

            case SpfMechanismKind.Exists:
            {
                Count(state);
                var target = SpfMacro.ExpandDomain(m.DomainSpec!, context);

                // RFC 7208 5.7: always an A query, whatever the client's address family.
                return Check(await dns.AddressesAsync(target, AddressFamily.InterNetwork, ct), state).Count > 0;
            }

            default:
                throw new SpfAbort(SpfStatus.PermError, $"unsupported mechanism {m.Kind}");
        }
    }

    private static string Target(SpfMechanism m, SpfMacroContext context) =>
        m.DomainSpec is null ? context.Domain : SpfMacro.ExpandDomain(m.DomainSpec, context);

    private static int Prefix(SpfMechanism m, AddressFamily family) => family == AddressFamily.InterNetworkV6 ? m.Cidr6 : m.Cidr4;

    private void Count(State state)
    {
        // RFC 7208 4.6.4: more than 10 DNS-querying terms is a permerror, so a record cannot amplify lookups.
        if (++state.Lookups > lookupLimit)
        {
            throw new SpfAbort(SpfStatus.PermError, $"more than {lookupLimit} DNS lookups");
        }
    }

    private void Void(State state)
    {
        if (++state.Voids > voidLimit)
        {
            throw new SpfAbort(SpfStatus.PermError, $"more than {voidLimit} void DNS lookups");
        }
    }

    private IReadOnlyList<T> Check<T>(DnsAnswer<T> answer, State state)
    {
        switch (answer.Outcome)
        {
            case DnsOutcome.Error:
                throw new SpfAbort(SpfStatus.TempError, answer.Error!);
            case DnsOutcome.Empty:
                Void(state);
                return [];
            default:
                return answer.Records;
        }
    }

    /// <summary>RFC 7208 6.2: the exp= text; any problem just means no explanation.</summary>
    private async Task<string?> ExplainAsync(string spec, SpfMacroContext context, CancellationToken ct)
    {
        try
        {
            var name = SpfMacro.ExpandDomain(spec, context);
            var txt = await dns.TxtAsync(name, ct);
            return txt.Records.Count == 1 ? SpfMacro.Expand(txt.Records[0], context, explanation: true) : null;
        }
        catch (SpfMacroException)
        {
            return null;
        }
    }

    internal static bool InNetwork(IPAddress ip, IPAddress network, int prefix)
    {
        if (ip.AddressFamily != network.AddressFamily)
        {
            return false;
        }

        Span<byte> a = stackalloc byte[16];
        Span<byte> b = stackalloc byte[16];
        _ = ip.TryWriteBytes(a, out var length);
        _ = network.TryWriteBytes(b, out _);
        prefix = Math.Clamp(prefix, 0, length * 8);
        var whole = prefix / 8;
        if (!a[..whole].SequenceEqual(b[..whole]))
        {
            return false;
        }

        var rest = prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (a[whole] & mask) == (b[whole] & mask);
    }

    /// <summary>RFC 7208 4.3: labels of 1 to 63 octets, at most 253 in all, and at least two labels.</summary>
    internal static bool IsValidDomain(string domain)
    {
        if (domain.Length is 0 or > 253 || IPAddress.TryParse(domain, out _) || domain.StartsWith('['))
        {
            return false;
        }

        var labels = domain.Split('.');
        return labels.Length >= 2 && labels.All(l => l.Length is >= 1 and <= 63);
    }
}
