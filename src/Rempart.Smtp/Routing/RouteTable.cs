using System.Globalization;
using System.Net;
using System.Text;
using Rempart.Common.Configuration;
using Rempart.Smtp.Outbound;

namespace Rempart.Smtp.Routing;

/// <summary>How an outbound connection protects itself.</summary>
public enum TlsMode
{
    /// <summary>STARTTLS when offered, any certificate accepted, plaintext otherwise (RFC 7435 opportunistic security).</summary>
    Opportunistic,

    /// <summary>STARTTLS with a verified certificate; a peer without it is a temporary failure, never plaintext.</summary>
    Required,

    /// <summary>TLS from the first byte (smtps, RFC 8314).</summary>
    Implicit,

    /// <summary>Plaintext only.</summary>
    None,
}

/// <summary>One validated outbound route ("send connector").</summary>
/// <param name="Host">Smart host name or IP literal; null for MX delivery.</param>
public sealed record OutboundRoute(
    string Name,
    IReadOnlyList<string> Domains,
    string? Host,
    int Port,
    TlsMode Tls,
    bool InsecureSkipVerify,
    string? Username,
    string? Password)
{
    /// <summary>Never prints the password (routes end up in logs and in <c>rempart route test</c>).</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Name} ({(Host is null ? "MX" : $"{Host}:{Port}")}, tls {Tls}{(Username is null ? "" : $", auth {Username}")})");

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(ToString());
        return true;
    }
}

/// <summary>Where mail for one destination domain goes and how the connection is protected.</summary>
/// <param name="Route">The route chosen, or null for plain MX delivery.</param>
/// <param name="VerifyCertificate">Whether the peer certificate must validate (required TLS, implicit TLS).</param>
/// <param name="Reason">Human-readable cause of the choice (route test, logs).</param>
public sealed record RouteDecision(string Domain, OutboundRoute? Route, TlsMode Tls, bool VerifyCertificate, string Reason)
{
    public bool IsSmartHost => Route?.Host is not null;
}

/// <summary>
/// The outbound routing table built from <see cref="RempartOptions.Routes"/>: a route forced by name wins, then the
/// first route (in configuration order) whose domain pattern matches the recipient domain; no match means MX delivery.
/// </summary>
public sealed class RouteTable
{
    private readonly List<OutboundRoute> _routes = [];
    private readonly List<string> _requireTlsDomains;
    private readonly int _mxPort;

    /// <summary>Builds the table. Throws <see cref="ArgumentException"/> listing every problem when the routes are invalid.</summary>
    public RouteTable(RempartOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Validate(options);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid outbound routes: " + string.Join("; ", errors), nameof(options));
        }

        foreach (var route in options.Routes)
        {
            string? host = null;
            var port = options.Queue.MxPort;
            if (!string.IsNullOrWhiteSpace(route.SmartHost))
            {
                if (!TryParseHostPort(route.SmartHost, out host, out port, out var error))
                {
                    throw new ArgumentException(error, nameof(options));
                }
            }

            _routes.Add(new OutboundRoute(
                route.Name,
                route.Domains.Select(NormalizeDomain).ToList(),
                host,
                port,
                ParseTlsMode(route.Tls)!.Value,
                route.InsecureSkipVerify,
                string.IsNullOrEmpty(route.Username) ? null : route.Username,
                route.Password));
        }

        _requireTlsDomains = options.Queue.RequireTlsDomains.Select(NormalizeDomain).ToList();
        _mxPort = options.Queue.MxPort;
    }

    public IReadOnlyList<OutboundRoute> Routes => _routes;

    /// <summary>Port used for MX delivery.</summary>
    public int MxPort => _mxPort;

    /// <summary>Chooses the route for a destination domain; <paramref name="forcedRoute"/> (set by transport rules) wins.</summary>
    public RouteDecision Resolve(string domain, string? forcedRoute = null)
    {
        domain = NormalizeDomain(domain);
        string? forcedNote = null;
        if (!string.IsNullOrEmpty(forcedRoute))
        {
            var forced = _routes.FirstOrDefault(r => string.Equals(r.Name, forcedRoute, StringComparison.OrdinalIgnoreCase));
            if (forced is not null)
            {
                return Decide(domain, forced, $"route \"{forced.Name}\" forced by a transport rule");
            }

            // A rule naming a route that no longer exists must not strand mail: fall back to the patterns, and say so.
            forcedNote = $"forced route \"{forcedRoute}\" does not exist; ";
        }

        foreach (var route in _routes)
        {
            foreach (var pattern in route.Domains)
            {
                if (Matches(pattern, domain))
                {
                    return Decide(domain, route, $"{forcedNote}route \"{route.Name}\" matched pattern \"{pattern}\"");
                }
            }
        }

        return Decide(domain, null, $"{forcedNote}no route matched: MX delivery");
    }

    private RouteDecision Decide(string domain, OutboundRoute? route, string reason)
    {
        var tls = route?.Tls ?? TlsMode.Opportunistic;
        var requiredByDomain = _requireTlsDomains.Any(p => Matches(p, domain));
        if (requiredByDomain && tls is TlsMode.Opportunistic or TlsMode.None)
        {
            tls = TlsMode.Required;
            reason += $"; TLS required for {domain} by queue.requireTlsDomains";
        }

        var verify = tls switch
        {
            TlsMode.Required or TlsMode.Implicit => route is null || !route.InsecureSkipVerify || requiredByDomain,
            _ => false,
        };
        return new RouteDecision(domain, route, tls, verify, reason);
    }

    /// <summary>
    /// Human-readable routing decision for <c>rempart route test user@domain</c>, without DNS lookups
    /// (see <see cref="ExplainAsync"/> for the resolved MX hosts).
    /// </summary>
    public string Explain(string address, string? forcedRoute = null) => ExplainCore(address, forcedRoute, null);

    /// <summary>Like <see cref="Explain"/>, with the MX hosts resolved when the decision is MX delivery.</summary>
    public async Task<string> ExplainAsync(string address, IMxResolver resolver, string? forcedRoute = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var domain = DomainOf(address);
        if (domain is null)
        {
            return ExplainCore(address, forcedRoute, null);
        }

        var decision = Resolve(domain, forcedRoute);
        MxResult? mx = null;
        if (!decision.IsSmartHost)
        {
            mx = await resolver.ResolveAsync(decision.Domain, ct);
        }

        return ExplainCore(address, forcedRoute, mx);
    }

    private string ExplainCore(string address, string? forcedRoute, MxResult? mx)
    {
        var domain = DomainOf(address);
        if (domain is null)
        {
            return $"\"{address}\" is not an address of the form local@domain.";
        }

        var decision = Resolve(domain, forcedRoute);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"address:  {address}\n");
        text.Append(CultureInfo.InvariantCulture, $"domain:   {decision.Domain}\n");
        text.Append(CultureInfo.InvariantCulture, $"decision: {decision.Reason}\n");
        if (decision.IsSmartHost)
        {
            var route = decision.Route!;
            text.Append(CultureInfo.InvariantCulture, $"route:    {route.Name}\n");
            text.Append(CultureInfo.InvariantCulture, $"deliver:  smart host {FormatHostPort(route.Host!, route.Port)}\n");
            if (route.Username is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $"auth:     as \"{route.Username}\" (password not shown)\n");
            }
        }
        else
        {
            if (decision.Route is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $"route:    {decision.Route.Name} (no smart host)\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"deliver:  MX hosts of {decision.Domain}, port {_mxPort}\n");
            if (mx is not null)
            {
                AppendMx(text, mx);
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"tls:      {DescribeTls(decision)}\n");
        return text.ToString();
    }

    private static void AppendMx(StringBuilder text, MxResult mx)
    {
        switch (mx.Status)
        {
            case MxStatus.Ok:
                foreach (var host in mx.Hosts)
                {
                    var addresses = host.Addresses.Count == 0 ? "no address" : string.Join(", ", host.Addresses);
                    text.Append(CultureInfo.InvariantCulture, $"  mx {host.Preference,5} {host.Name} ({addresses}){(host.Implicit ? " [implicit MX: no MX record, A/AAAA used]" : "")}\n");
                }

                break;
            default:
                text.Append(CultureInfo.InvariantCulture, $"  mx lookup: {mx.Status}: {mx.Error}\n");
                break;
        }
    }

    private static string DescribeTls(RouteDecision decision) => decision.Tls switch
    {
        TlsMode.Opportunistic => "opportunistic (STARTTLS when offered, certificate not verified, plaintext otherwise)",
        TlsMode.Required => decision.VerifyCertificate
            ? "required (STARTTLS with a verified certificate; no plaintext fallback)"
            : "required (STARTTLS, certificate NOT verified: insecureSkipVerify; no plaintext fallback)",
        TlsMode.Implicit => decision.VerifyCertificate ? "implicit (smtps, verified certificate)" : "implicit (smtps, certificate NOT verified)",
        _ => "none (plaintext)",
    };

    /// <summary>Checks every route (and queue.requireTlsDomains); returns one clear message per problem, empty when valid.</summary>
    public static IReadOnlyList<string> Validate(RempartOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            var label = string.IsNullOrWhiteSpace(route.Name) ? $"routes[{i}]" : $"route \"{route.Name}\"";
            if (string.IsNullOrWhiteSpace(route.Name))
            {
                errors.Add($"{label}: name is empty");
            }
            else if (!names.Add(route.Name))
            {
                errors.Add($"{label}: duplicate route name");
            }

            if (route.Domains.Count == 0)
            {
                errors.Add($"{label}: domains is empty (use \"*\" for every domain)");
            }

            foreach (var pattern in route.Domains)
            {
                if (!IsValidPattern(pattern))
                {
                    errors.Add($"{label}: domain pattern \"{pattern}\" is invalid (expected \"example.com\", \"*.example.com\" or \"*\")");
                }
            }

            if (ParseTlsMode(route.Tls) is null)
            {
                errors.Add($"{label}: tls \"{route.Tls}\" is unknown (expected opportunistic, required, implicit or none)");
            }

            if (!string.IsNullOrWhiteSpace(route.SmartHost) && !TryParseHostPort(route.SmartHost, out _, out _, out var hostError))
            {
                errors.Add($"{label}: smartHost \"{route.SmartHost}\" is invalid: {hostError}");
            }

            if (string.IsNullOrWhiteSpace(route.SmartHost) && !string.IsNullOrEmpty(route.Username))
            {
                errors.Add($"{label}: username is set but there is no smartHost to authenticate to");
            }

            if (!string.IsNullOrEmpty(route.Password) && string.IsNullOrEmpty(route.Username))
            {
                errors.Add($"{label}: password is set without a username");
            }

            if (!string.IsNullOrEmpty(route.Username) && string.IsNullOrEmpty(route.Password))
            {
                errors.Add($"{label}: username is set without a password");
            }

            if (!string.IsNullOrEmpty(route.Username) && string.Equals(route.Tls, "none", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{label}: authentication over tls \"none\" would send the password in clear");
            }
        }

        foreach (var pattern in options.Queue.RequireTlsDomains)
        {
            if (!IsValidPattern(pattern))
            {
                errors.Add($"queue.requireTlsDomains: domain pattern \"{pattern}\" is invalid");
            }
        }

        return errors;
    }

    /// <summary>"example.com" matches itself, "*.example.com" matches its subdomains (not itself), "*" matches all.</summary>
    public static bool Matches(string pattern, string domain)
    {
        pattern = NormalizeDomain(pattern);
        domain = NormalizeDomain(domain);
        if (pattern == "*")
        {
            return true;
        }

        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return domain.Length > pattern.Length - 1 && domain.EndsWith(pattern[1..], StringComparison.Ordinal);
        }

        return string.Equals(pattern, domain, StringComparison.Ordinal);
    }

    public static TlsMode? ParseTlsMode(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "opportunistic" => TlsMode.Opportunistic,
        "required" => TlsMode.Required,
        "implicit" => TlsMode.Implicit,
        "none" => TlsMode.None,
        _ => null,
    };

    /// <summary>Parses "host:port" or "[ipv6]:port".</summary>
    public static bool TryParseHostPort(string value, out string host, out int port, out string error)
    {
        host = "";
        port = 0;
        value = value.Trim();
        string portText;
        if (value.StartsWith('['))
        {
            var close = value.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= value.Length || value[close + 1] != ':')
            {
                error = "expected [ipv6]:port";
                return false;
            }

            host = value[1..close];
            portText = value[(close + 2)..];
            if (!IPAddress.TryParse(host, out _))
            {
                error = $"\"{host}\" is not an IPv6 address";
                return false;
            }
        }
        else
        {
            var colon = value.LastIndexOf(':');
            if (colon <= 0)
            {
                error = "expected host:port";
                return false;
            }

            host = value[..colon];
            portText = value[(colon + 1)..];
            if (host.Contains(':', StringComparison.Ordinal))
            {
                error = "IPv6 addresses must be written [address]:port";
                return false;
            }

            if (!IPAddress.TryParse(host, out _) && !IsValidHostName(host))
            {
                error = $"\"{host}\" is not a valid host name";
                return false;
            }
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"port \"{portText}\" is not a number from 1 to 65535";
            return false;
        }

        error = "";
        return true;
    }

    internal static string FormatHostPort(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port.ToString(CultureInfo.InvariantCulture)}" : $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The domain of an address (after the last '@'), lower-cased, or null when there is none.</summary>
    public static string? DomainOf(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            return null;
        }

        return NormalizeDomain(address[(at + 1)..]);
    }

    private static string NormalizeDomain(string domain) => domain.Trim().TrimEnd('.').ToLowerInvariant();

    private static bool IsValidPattern(string pattern)
    {
        pattern = NormalizeDomain(pattern);
        if (pattern == "*")
        {
            return true;
        }

        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            pattern = pattern[2..];
        }

        return IsValidHostName(pattern);
    }

    private static bool IsValidHostName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (var c in label)
            {
                // Letters, digits, hyphen (RFC 1123), plus UTF-8 letters for internationalized domains (RFC 6531).
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c > 127))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
