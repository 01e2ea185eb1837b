using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rempart.Common.Configuration;

namespace Rempart.Server;

/// <summary>A configuration file that cannot be used; the message names the key and says what to do.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException()
    {
    }

    public ConfigException(string message)
        : base(message)
    {
    }

    public ConfigException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// Loads and validates <c>rempart.json</c> (keys in camelCase, durations as "hh:mm:ss" or "d.hh:mm:ss").
/// Unknown keys and wrong types are errors that name the key: a typo must never fall back to a default silently.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Serializer settings shared by loading and <c>rempart config show</c>.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// Loads the file at <paramref name="path"/>, or the defaults when <paramref name="path"/> is null.
    /// Throws <see cref="ConfigException"/> naming the bad key or value.
    /// </summary>
    public static RempartOptions Load(string? path)
    {
        if (path is null)
        {
            return Validate(new RempartOptions());
        }

        if (!File.Exists(path))
        {
            throw new ConfigException($"Configuration file '{path}' does not exist. Create it (see docs/configuration.md) or omit --config to use the defaults.");
        }

        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates configuration text; <paramref name="source"/> names it in errors.</summary>
    public static RempartOptions Parse(string json, string source = "configuration")
    {
        RempartOptions? options;
        try
        {
            options = JsonSerializer.Deserialize<RempartOptions>(json, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ConfigException($"{source}: {Describe(ex)} See docs/configuration.md for every key.", ex);
        }

        if (options is null)
        {
            throw new ConfigException($"{source}: the file must hold a JSON object.");
        }

        return Validate(options, source);
    }

    /// <summary>Checks values that JSON types cannot: ranges, addresses, files, combinations.</summary>
    public static RempartOptions Validate(RempartOptions o, string source = "configuration")
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string message)
        {
            if (!ok)
            {
                errors.Add($"'{key}': {message}");
            }
        }

        Check(IsHostName(o.HostName), "hostName", "must be a DNS host name such as mail.example.com.");

        var bound = new Dictionary<(string, int), string>();
        foreach (var (name, l) in o.Listeners.All())
        {
            var key = "listeners." + name;
            Check(l.Port is > 0 and < 65536, key + ".port", "must be between 1 and 65535.");
            Check(l.Addresses.Count > 0 || !l.Enabled, key + ".addresses", "needs at least one address (or set enabled to false).");
            foreach (var a in l.Addresses)
            {
                var ok = IPAddress.TryParse(a, out var ip);
                Check(ok, key + ".addresses", $"'{a}' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or ::).");
                if (ok && l.Enabled)
                {
                    var k = (ip!.ToString(), l.Port);
                    if (bound.TryGetValue(k, out var other))
                    {
                        errors.Add($"'{key}.port': {a}:{l.Port} is already used by listeners.{other}.");
                    }
                    else
                    {
                        bound[k] = name;
                    }
                }
            }

            var lim = l.Limits;
            Check(lim.MaxConnections > 0, key + ".limits.maxConnections", "must be positive.");
            Check(lim.MaxConnectionsPerIp > 0 && lim.MaxConnectionsPerIp <= lim.MaxConnections, key + ".limits.maxConnectionsPerIp", "must be positive and at most maxConnections.");
            Check(lim.IdleTimeout > TimeSpan.Zero, key + ".limits.idleTimeout", "must be positive.");
            Check(lim.CommandTimeout > TimeSpan.Zero, key + ".limits.commandTimeout", "must be positive.");
            Check(lim.HandshakeTimeout > TimeSpan.Zero, key + ".limits.handshakeTimeout", "must be positive.");
            Check(lim.MaxLineLength is >= 512 and <= 1024 * 1024, key + ".limits.maxLineLength", "must be between 512 and 1048576 (RFC 5321 needs 512).");
        }

        Check((o.Tls.CertificatePath is null) == (o.Tls.KeyPath is null), "tls", "set both certificatePath and keyPath, or neither (a self-signed certificate is then generated).");
        if (o.Tls.CertificatePath is not null)
        {
            Check(File.Exists(o.Tls.CertificatePath), "tls.certificatePath", $"file '{o.Tls.CertificatePath}' does not exist.");
        }

        if (o.Tls.KeyPath is not null)
        {
            Check(File.Exists(o.Tls.KeyPath), "tls.keyPath", $"file '{o.Tls.KeyPath}' does not exist.");
        }

        Check(o.Tls.ReloadInterval >= TimeSpan.FromSeconds(1), "tls.reloadInterval", "must be at least 1 second.");

        Check(o.Store.Provider == "sqlite", "store.provider", o.Store.Provider == "postgresql"
            ? "the PostgreSQL store is not available in this version; use \"sqlite\"."
            : "must be \"sqlite\".");
        Check(o.Store.CompressionLevel is >= 1 and <= 19, "store.compressionLevel", "must be between 1 and 19.");
        Check(o.Store.MaxBatch is >= 1 and <= 10000, "store.maxBatch", "must be between 1 and 10000.");

        Check(o.Auth.MaxFailuresPerIp >= 1, "auth.maxFailuresPerIp", "must be at least 1.");
        Check(o.Auth.MaxFailuresPerAccount >= 1, "auth.maxFailuresPerAccount", "must be at least 1.");
        Check(o.Auth.FailureWindow > TimeSpan.Zero, "auth.failureWindow", "must be positive.");
        Check(o.Auth.BanDuration > TimeSpan.Zero, "auth.banDuration", "must be positive.");
        Check(o.Auth.RepeatBanFactor >= 1, "auth.repeatBanFactor", "must be at least 1.");
        Check(o.Auth.MaxBanDuration >= o.Auth.BanDuration, "auth.maxBanDuration", "must be at least banDuration.");
        foreach (var n in o.Auth.TrustedNetworks)
        {
            Check(IPNetwork.TryParse(n, out _), "auth.trustedNetworks", $"'{n}' is not a CIDR range such as 10.0.0.0/8 or fd00::/8.");
        }

        Check(o.Auth.Argon2MemoryKib is >= 8192 and <= 1 << 21, "auth.argon2MemoryKib", "must be between 8192 and 2097152.");
        Check(o.Auth.Argon2Iterations is >= 1 and <= 64, "auth.argon2Iterations", "must be between 1 and 64.");
        Check(o.Auth.Argon2Parallelism is >= 1 and <= 16, "auth.argon2Parallelism", "must be between 1 and 16.");

        Check(o.Smtp.MaxMessageSize >= 1024, "smtp.maxMessageSize", "must be at least 1024 bytes.");
        Check(o.Smtp.MaxRecipients >= 1, "smtp.maxRecipients", "must be at least 1 (RFC 5321 asks for 100).");
        Check(o.Smtp.MaxErrors >= 1, "smtp.maxErrors", "must be at least 1.");
        Check(o.Smtp.MaxHops >= 10, "smtp.maxHops", "must be at least 10.");

        Check(o.Queue.Lifetime > TimeSpan.Zero, "queue.lifetime", "must be positive.");
        Check(o.Queue.FirstRetryDelay > TimeSpan.Zero, "queue.firstRetryDelay", "must be positive.");
        Check(o.Queue.MaxRetryDelay >= o.Queue.FirstRetryDelay, "queue.maxRetryDelay", "must be at least firstRetryDelay.");
        Check(o.Queue.Concurrency is >= 1 and <= 1000, "queue.concurrency", "must be between 1 and 1000.");
        Check(o.Queue.MxPort is > 0 and < 65536, "queue.mxPort", "must be between 1 and 65535.");

        foreach (var s in o.Dns.Servers)
        {
            Check(IPEndPoint.TryParse(s, out _), "dns.servers", $"'{s}' is not an address such as 127.0.0.1 or 127.0.0.1:5353.");
        }

        // Routes are checked by the route table itself, so the server and `rempart route test` agree on what is valid.
        errors.AddRange(Rempart.Smtp.Routing.RouteTable.Validate(o).Select(e => "'routes': " + e + "."));

        Check(o.Imap.MaxLiteralSize >= 1024, "imap.maxLiteralSize", "must be at least 1024 bytes.");
        Check(o.Imap.MaxSessionsPerUser >= 1, "imap.maxSessionsPerUser", "must be at least 1.");
        Check(o.Imap.MaxNestingDepth is >= 4 and <= 1000, "imap.maxNestingDepth", "must be between 4 and 1000.");
        Check(o.Imap.PreAuthTimeout >= TimeSpan.FromSeconds(1), "imap.preAuthTimeout", "must be at least 1 second.");

        errors.AddRange(o.Protection.Validate("protection"));
        errors.AddRange(o.Backup.Validate("backup"));
        errors.AddRange(o.Monitoring.Validate("monitoring"));

        Check(o.Logging.Format is "console" or "json", "logging.format", "must be \"console\" or \"json\".");
        Check(Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(o.Logging.Level, ignoreCase: true, out _), "logging.level", "must be Trace, Debug, Information, Warning, Error or Critical.");

        if (errors.Count > 0)
        {
            throw new ConfigException($"{source}: " + string.Join(Environment.NewLine + "  ", errors) + Environment.NewLine + "See docs/configuration.md for every key and its allowed values.");
        }

        return o;
    }

    private static bool IsHostName(string s) =>
        s.Length is > 0 and <= 253 && s.Split('.').All(l => l.Length is > 0 and <= 63 && l.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && l[0] != '-' && l[^1] != '-');

    private static string Describe(JsonException ex)
    {
        var path = ex.Path is null ? "" : ex.Path.TrimStart('$').TrimStart('.');
        var line = ex.LineNumber is { } n ? $" (line {n + 1})" : "";
        var msg = ex.Message;
        const string marker = "The JSON property '";
        var i = msg.IndexOf(marker, StringComparison.Ordinal);
        if (i >= 0)
        {
            var end = msg.IndexOf('\'', i + marker.Length);
            var name = msg[(i + marker.Length)..end];
            var full = path.Length == 0 ? name : path.EndsWith(name, StringComparison.Ordinal) ? path : path + "." + name;
            return $"unknown key '{full}'{line}.";
        }

        return path.Length > 0 ? $"bad value for '{path}'{line}: {FirstSentence(msg)}" : $"invalid JSON{line}: {FirstSentence(msg)}";
    }

    private static string FirstSentence(string s)
    {
        var i = s.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? s[..(i + 1)] : s;
    }
}
