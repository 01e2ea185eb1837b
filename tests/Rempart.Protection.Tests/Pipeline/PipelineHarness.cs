using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Antispam;
using Rempart.Antivirus;
using Rempart.Common.Configuration;
using Rempart.Protection.Pipeline;
using Rempart.Protection.Quarantine;
using Rempart.Protection.Reputation;
using Rempart.Protection.Rules;
using Rempart.Smtp.Filters;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Protection.Tests.Pipeline;

/// <summary>
/// The real pipeline over a real store in a temporary folder: anti-spam with an empty model, the attachment policy
/// without clamd, mail-flow rules from the store, the quarantine. No sender authentication (that needs DNS and is
/// covered end to end in tests/Rempart.Integration.Tests/ProtectionEndToEndTests.cs).
/// </summary>
internal sealed class PipelineHarness : IAsyncDisposable
{
    private readonly string _root;

    private PipelineHarness(string root, SqliteMailStore store, ProtectionFilter filter, RempartOptions options, SpamEngine spam)
    {
        _root = root;
        Store = store;
        Filter = filter;
        Options = options;
        Spam = spam;
    }

    public SqliteMailStore Store { get; }

    public ProtectionFilter Filter { get; }

    public RempartOptions Options { get; }

    public SpamEngine Spam { get; }

    public static async Task<PipelineHarness> CreateAsync(Action<RempartOptions>? configure = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "rempart-pipeline-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(root);
        var options = new RempartOptions { HostName = "mx.example.com" };
        configure?.Invoke(options);
        var store = await SqliteMailStore.OpenAsync(Path.Combine(root, "rempart.db"), Path.Combine(root, "blobs"), options.Store, NullLogger.Instance, CancellationToken.None);
        await store.Directory.AddDomainAsync("example.com");
        await store.Directory.AddAccountAsync(new NewAccount("alice@example.com", "x"));
        await store.Directory.AddAccountAsync(new NewAccount("bob@example.com", "x"));
        var spam = new SpamEngine(options.Protection.Spam, Path.Combine(root, "spam"), store.Blobs, NullLogger.Instance);
        var services = new ProtectionServices
        {
            Options = options,
            Store = store,
            Loggers = NullLoggerFactory.Instance,
            Spam = spam,
            Antivirus = new MalwareScanner(options.Protection.Antivirus, NullLogger.Instance),
            Rules = new RuleSetCache(store.Protection, NullLoggerFactory.Instance),
            Quarantine = new QuarantineService(store, options.Protection.Quarantine, NullLogger.Instance),
            Reputation = new ReputationTracker(options.Protection.Connection),
        };
        return new PipelineHarness(root, store, new ProtectionFilter(services), options, spam);
    }

    public static FilterContext Context(string sender, IReadOnlyList<string> recipients, string? user = null, string ip = "192.0.2.25") =>
        FilterContextFactory.Create(sender, recipients, user, IPAddress.Parse(ip));

    public async Task<FilterVerdict> EndOfDataAsync(string message, string sender = "carol@outside.test", IReadOnlyList<string>? recipients = null, string? user = null) =>
        await Filter.OnEndOfDataAsync(Context(sender, recipients ?? ["alice@example.com"], user), System.Text.Encoding.UTF8.GetBytes(message.ReplaceLineEndings("\r\n")), CancellationToken.None);

    public Task AddRuleAsync(string name, int priority, string json) =>
        Store.Protection.SaveRuleAsync(new TransportRuleRecord(name, priority, true, json, DateTimeOffset.UtcNow));

    public async ValueTask DisposeAsync()
    {
        Spam.Dispose();
        await Store.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Builds the context an SMTP session would hand the filter after RCPT.</summary>
internal static class FilterContextFactory
{
    public static FilterContext Create(string sender, IReadOnlyList<string> recipients, string? user, IPAddress remote) => new()
    {
        ConnectionId = "t" + Guid.NewGuid().ToString("n")[..6],
        RemoteAddress = remote,
        Role = user is null ? "mx" : "submission",
        HeloName = "client.outside.test",
        IsSecure = true,
        AuthenticatedUser = user,
        Sender = sender,
        Recipients = recipients,
        QueueId = "q" + Guid.NewGuid().ToString("n")[..6],
    };
}
