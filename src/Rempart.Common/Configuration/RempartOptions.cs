using System.Text.Json.Serialization;

namespace Rempart.Common.Configuration;

/// <summary>
/// The whole configuration file (<c>rempart.json</c>). Every key is documented in docs/configuration.md;
/// unknown keys are rejected when the file is loaded so a typo never silently falls back to a default.
/// </summary>
public sealed class RempartOptions
{
    /// <summary>Host name used in greetings, Received headers and the self-signed certificate.</summary>
    public string HostName { get; set; } = "localhost";

    public ListenersOptions Listeners { get; set; } = new();
    public TlsOptions Tls { get; set; } = new();
    public StoreOptions Store { get; set; } = new();
    public AuthOptions Auth { get; set; } = new();
    public SmtpOptions Smtp { get; set; } = new();
    public QueueOptions Queue { get; set; } = new();
    public DnsOptions Dns { get; set; } = new();
    public List<RouteOptions> Routes { get; set; } = [];
    public ImapOptions Imap { get; set; } = new();
    public Pop3Options Pop3 { get; set; } = new();
    public LoggingOptions Logging { get; set; } = new();

    /// <summary>The protection pipeline: sender authentication, anti-spam, antivirus, rules, quarantine, reputation.</summary>
    public ProtectionOptions Protection { get; set; } = new();

    /// <summary>Backup repository, schedule and retention.</summary>
    public BackupOptions Backup { get; set; } = new();

    /// <summary>Health model, alerting and the report page.</summary>
    public MonitoringOptions Monitoring { get; set; } = new();
}

/// <summary>All network listeners. Defaults need no root and bind to loopback only.</summary>
public sealed class ListenersOptions
{
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Smtp { get; set; } = new() { Port = 2525 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Submission { get; set; } = new() { Port = 5587 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Submissions { get; set; } = new() { Port = 5465 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Imap { get; set; } = new() { Port = 1143 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Imaps { get; set; } = new() { Port = 1993 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Pop3 { get; set; } = new() { Port = 1110 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Pop3s { get; set; } = new() { Port = 1995 };
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Http { get; set; } = new() { Port = 8080 };

    /// <summary>
    /// HTTP over TLS (the server's certificate, reloaded live): the same routes as <see cref="Http"/>, and the way
    /// to sign in to the report page from another machine (a password is not taken over plain HTTP from elsewhere
    /// than loopback).
    /// </summary>
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public ListenerOptions Https { get; set; } = new() { Port = 8443 };

    /// <summary>Every listener with its stable name, in a fixed order.</summary>
    public IEnumerable<(string Name, ListenerOptions Options)> All()
    {
        yield return ("smtp", Smtp);
        yield return ("submission", Submission);
        yield return ("submissions", Submissions);
        yield return ("imap", Imap);
        yield return ("imaps", Imaps);
        yield return ("pop3", Pop3);
        yield return ("pop3s", Pop3s);
        yield return ("http", Http);
        yield return ("https", Https);
    }
}

/// <summary>One listener: where it binds and the limits every connection on it gets.</summary>
public sealed class ListenerOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Addresses to bind (IPv4 or IPv6 literals). Default: loopback only.</summary>
    public List<string> Addresses { get; set; } = ["127.0.0.1"];

    public int Port { get; set; }

    public ListenerLimits Limits { get; set; } = new();
}

/// <summary>
/// Limits applied to every connection of a listener (house style, habit 4: cap every read before parsing).
/// Defaults are documented in docs/configuration.md.
/// </summary>
public sealed class ListenerLimits
{
    /// <summary>Connections open at once on this listener.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>Connections open at once from one remote address.</summary>
    public int MaxConnectionsPerIp { get; set; } = 20;

    /// <summary>Time a connection may stay silent between commands before it is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time a client has to finish a command once it has started sending it (slow-loris guard).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Longest command or response line accepted, CRLF included.</summary>
    public int MaxLineLength { get; set; } = 8192;

    /// <summary>Time allowed for the TLS handshake.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) file. When unset, a self-signed certificate is made in the data folder.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key file matching <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>How often the certificate files are checked for a renewal (live reload).</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class StoreOptions
{
    /// <summary>"sqlite" (embedded default). "postgresql" is reserved for the scale-out store.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>zstd level for message bodies in the blob store (1-19).</summary>
    public int CompressionLevel { get; set; } = 3;

    /// <summary>Most write operations folded into one transaction and one fsync (group commit).</summary>
    public int MaxBatch { get; set; } = 256;
}

public sealed class AuthOptions
{
    /// <summary>Failed logins from one address within <see cref="FailureWindow"/> before it is banned.</summary>
    public int MaxFailuresPerIp { get; set; } = 5;

    /// <summary>Failed logins for one account within <see cref="FailureWindow"/> before the account is locked for <see cref="BanDuration"/>.</summary>
    public int MaxFailuresPerAccount { get; set; } = 10;

    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan BanDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Each repeat ban of the same address lasts this many times the previous one, up to <see cref="MaxBanDuration"/>.</summary>
    public double RepeatBanFactor { get; set; } = 4;

    public TimeSpan MaxBanDuration { get; set; } = TimeSpan.FromDays(1);

    /// <summary>CIDR ranges never throttled (for example a webmail front end).</summary>
    public List<string> TrustedNetworks { get; set; } = [];

    /// <summary>Argon2id memory in KiB.</summary>
    public int Argon2MemoryKib { get; set; } = 19456;

    /// <summary>Argon2id passes.</summary>
    public int Argon2Iterations { get; set; } = 2;

    /// <summary>Argon2id lanes.</summary>
    public int Argon2Parallelism { get; set; } = 1;
}

public sealed class SmtpOptions
{
    /// <summary>Largest message accepted, in bytes (advertised with SIZE).</summary>
    public long MaxMessageSize { get; set; } = 50L * 1024 * 1024;

    public int MaxRecipients { get; set; } = 100;

    /// <summary>Command errors tolerated in one session before it is closed (421).</summary>
    public int MaxErrors { get; set; } = 10;

    /// <summary>Received-header hops after which a message is refused as a loop.</summary>
    public int MaxHops { get; set; } = 50;
}

public sealed class QueueOptions
{
    /// <summary>How long an undeliverable message is retried before it bounces.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromDays(5);

    /// <summary>After this long undelivered, the sender gets a delay notice (once).</summary>
    public TimeSpan DelayNoticeAfter { get; set; } = TimeSpan.FromHours(4);

    /// <summary>First retry delay; later ones double up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Deliveries running at once.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>Timeout for one outbound SMTP connection attempt and each command.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Remote SMTP port used for MX delivery (25 on the internet; tests move it).</summary>
    public int MxPort { get; set; } = 25;

    /// <summary>Domains whose delivery must use TLS with a verified certificate.</summary>
    public List<string> RequireTlsDomains { get; set; } = [];
}

public sealed class DnsOptions
{
    /// <summary>Resolvers as "ip" or "ip:port". Empty: the system resolvers.</summary>
    public List<string> Servers { get; set; } = [];

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>An outbound route (a "send connector"): the first route whose pattern matches the recipient domain wins.</summary>
public sealed class RouteOptions
{
    public string Name { get; set; } = "";

    /// <summary>Recipient domain patterns: "example.com", "*.example.com" or "*" for everything.</summary>
    public List<string> Domains { get; set; } = [];

    /// <summary>Smart host as "host:port". Empty means MX delivery.</summary>
    public string? SmartHost { get; set; }

    /// <summary>"opportunistic" (default), "required" (STARTTLS with a verified certificate), "implicit" or "none".</summary>
    public string Tls { get; set; } = "opportunistic";

    /// <summary>Accept the smart host's certificate without verification (tests, internal relays).</summary>
    public bool InsecureSkipVerify { get; set; }

    public string? Username { get; set; }

    /// <summary>Password for the smart host. Never logged.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Password { get; set; }
}

public sealed class ImapOptions
{
    /// <summary>Largest literal a client may send (APPEND size cap), checked before the literal is read.</summary>
    public long MaxLiteralSize { get; set; } = 50L * 1024 * 1024;

    /// <summary>Concurrent sessions of one user.</summary>
    public int MaxSessionsPerUser { get; set; } = 20;

    /// <summary>Deepest parenthesis nesting accepted in a command.</summary>
    public int MaxNestingDepth { get; set; } = 32;

    /// <summary>IDLE is ended by the server after this long (RFC 9051 asks clients to re-issue within 30 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Idle timeout before authentication (RFC 9051: at least 1 minute).</summary>
    public TimeSpan PreAuthTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Idle timeout after authentication (RFC 9051: at least 30 minutes).</summary>
    public TimeSpan AuthenticatedTimeout { get; set; } = TimeSpan.FromMinutes(30);
}

public sealed class Pop3Options
{
    /// <summary>Idle timeout (RFC 1939: at least 10 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Command errors tolerated in one session before it is closed.</summary>
    public int MaxErrors { get; set; } = 10;
}

public sealed class LoggingOptions
{
    /// <summary>"console" (human) or "json".</summary>
    public string Format { get; set; } = "console";

    /// <summary>Minimum level: Trace, Debug, Information, Warning, Error.</summary>
    public string Level { get; set; } = "Information";

    /// <summary>Log protocol transcripts (secrets are always redacted).</summary>
    public bool Protocol { get; set; }
}
