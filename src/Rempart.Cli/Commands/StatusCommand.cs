using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Antivirus;
using Rempart.Common.Configuration;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart status</c>: what is in the data folder and whether a server answers.</summary>
internal static class StatusCommand
{
    private static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(2);

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var command = new Command("status", "Show the data folder, its contents, the queue and whether the server is running");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var options = ctx.Options;
            var pairs = new List<(string, string)>
            {
                ("Data folder", ctx.DataDir),
                ("Configuration", ctx.ConfigPath ?? "built-in defaults"),
            };

            if (!ctx.DataExists)
            {
                pairs.Add(("Database", "not initialized (no rempart.db yet; rempart domain add example.com creates it)"));
            }
            else
            {
                await using var store = await ctx.OpenStoreAsync(create: false, ct);
                await AddStoreFacts(pairs, store, io.Host.Time.GetUtcNow(), ct);
            }

            pairs.Add(("Protection", options.Protection.Enabled ? "on" : "off (protection.enabled is false: mail is not filtered)"));
            pairs.Add(("Antivirus", await AntivirusAsync(options.Protection, ct)));
            pairs.Add(("Server", await ProbeAsync(options.Listeners.Http, ct)));
            io.KeyValues(pairs);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task AddStoreFacts(List<(string, string)> pairs, IMailStore store, DateTimeOffset now, CancellationToken ct)
    {
        var domains = await store.Directory.ListDomainsAsync(ct);
        var accounts = await store.Directory.ListAccountsAsync(null, ct);
        var aliases = await store.Directory.ListAliasesAsync(null, ct);
        long messages = 0, bytes = 0;
        foreach (var account in accounts)
        {
            foreach (var mailbox in await store.Messages.ListMailboxesAsync(account.Id, ct))
            {
                messages += mailbox.MessageCount;
                bytes += mailbox.Size;
            }
        }

        var queue = await store.Queue.ListAsync(ct);
        var disabled = accounts.Count(a => a.Disabled);
        var groups = aliases.Count(a => a.Kind == AliasKind.Group);
        pairs.Add(("Schema version", store.SchemaVersion.ToString(CultureInfo.InvariantCulture)));
        pairs.Add(("Domains", Formats.Count(domains.Count)));
        pairs.Add(("Accounts", Formats.Count(accounts.Count) + (disabled > 0 ? $" ({Formats.Count(disabled)} disabled)" : "")));
        pairs.Add(("Aliases", Formats.Plural(aliases.Count - groups, "alias", "aliases")));
        pairs.Add(("Groups", Formats.Plural(groups, "group", "groups")));
        pairs.Add(("Messages", $"{Formats.Count(messages)} ({Formats.Bytes(bytes)})"));
        var unindexed = await store.TextIndexBacklogAsync(ct);
        pairs.Add(("Search index", unindexed == 0 ? "up to date" : $"{Formats.Plural(unindexed, "message waits", "messages wait")} (indexed in the background; a search indexes its folder first)"));
        pairs.Add(("Queue", $"{Formats.Plural(queue.Count, "entry", "entries")} ({Formats.Count(queue.Count(q => q.NextAttempt <= now))} due now)"));
        var rules = await store.Protection.ListRulesAsync(ct);
        pairs.Add(("Mail-flow rules", $"{Formats.Count(rules.Count(r => r.Enabled))} enabled of {Formats.Count(rules.Count)}"));
        var held = await store.Protection.ListQuarantineAsync(new QuarantineQuery(Limit: 100_000), ct);
        pairs.Add(("Quarantine", Formats.Plural(held.Count, "message held", "messages held")));
    }

    /// <summary>The scanner's state as the server would see it: off (none configured), up with its signatures, or down.</summary>
    private static async Task<string> AntivirusAsync(ProtectionOptions protection, CancellationToken ct)
    {
        var health = await new MalwareScanner(protection.Antivirus, NullLogger.Instance).CheckHealthAsync(ct);
        return health.State switch
        {
            AntivirusState.Off => "off (no clamd configured: the attachment policy still applies)",
            AntivirusState.Up => "up: " + (health.Version ?? "clamd") + (health.SignatureDate is { } date ? ", signatures of " + Formats.Time(date) : string.Empty),
            _ => $"DOWN: {health.Error} (failMode {protection.Antivirus.FailMode}: " +
                (protection.Antivirus.FailMode == "open" ? "mail passes unscanned)" : "mail is deferred with 451)"),
        };
    }

    /// <summary>Asks the configured HTTP listener's /healthz; any HTTP answer means a server is running.</summary>
    private static async Task<string> ProbeAsync(ListenerOptions http, CancellationToken ct)
    {
        if (!http.Enabled || http.Addresses.Count == 0)
        {
            return "unknown (the HTTP listener is disabled in the configuration, so there is no /healthz to ask)";
        }

        var url = new UriBuilder(Uri.UriSchemeHttp, ConnectHost(http.Addresses[0]), http.Port, "/healthz").Uri;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(HealthTimeout);
        using var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            using var response = await client.GetAsync(url, timeout.Token);
            var status = $"{(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
            return response.IsSuccessStatusCode
                ? $"running ({url} answered {status})"
                : $"running but unhealthy ({url} answered {status})";
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException)
        {
            return $"not running (nothing listens at {url})";
        }
        catch (HttpRequestException ex)
        {
            return $"not responding ({url}: {ex.Message})";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"not responding ({url} did not answer within {HealthTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s)";
        }
    }

    /// <summary>A wildcard bind address is reached through loopback of the same family.</summary>
    internal static string ConnectHost(string bind)
    {
        if (!IPAddress.TryParse(bind, out var ip))
        {
            return bind;
        }

        if (ip.Equals(IPAddress.Any))
        {
            ip = IPAddress.Loopback;
        }
        else if (ip.Equals(IPAddress.IPv6Any))
        {
            ip = IPAddress.IPv6Loopback;
        }

        return ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
    }
}
