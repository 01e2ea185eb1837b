using Microsoft.Extensions.Logging;
using Rempart.Antispam;
using Rempart.Antivirus;
using Rempart.Common.Configuration;
using Rempart.Common.Dns;
using Rempart.Protection.Pipeline;
using Rempart.Protection.Quarantine;
using Rempart.Protection.Reputation;
using Rempart.Protection.Rules;
using Rempart.Protection.Trace;
using Rempart.SenderAuth;
using Rempart.SenderAuth.Dkim;
using Rempart.Smtp.Filters;
using Rempart.Store;

namespace Rempart.Server;

/// <summary>
/// Builds the protection pipeline from the configuration: which parts are on, where their files live (data folder:
/// dkim/, spam/), and the background work it needs (trace writer, quarantine sweeper). Disposed by the server after
/// the listeners stopped.
/// </summary>
public sealed partial class ProtectionSetup : IAsyncDisposable
{
    /// <summary>How often the reputation table is saved (and at shutdown): a crash loses at most this much of it.</summary>
    public static readonly TimeSpan ReputationSaveInterval = TimeSpan.FromMinutes(5);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sweeper;
    private readonly Task _reputationSaver;
    private readonly string _reputationPath;
    private readonly ILogger _logger;

    private ProtectionSetup(ProtectionServices services, IMessageFilter filter, IOutboundSigner signer, TraceRecorder trace, SpamEngine? spam, QuarantineSweeper sweeper, string reputationPath, ILogger logger)
    {
        Services = services;
        Filter = filter;
        Signer = signer;
        Trace = trace;
        Spam = spam;
        _sweeper = sweeper.StartAsync(_stop.Token);
        SweeperService = sweeper;
        _reputationPath = reputationPath;
        _logger = logger;
        _reputationSaver = SaveReputationPeriodicallyAsync(_stop.Token);
    }

    public ProtectionServices Services { get; }

    public IMessageFilter Filter { get; }

    public IOutboundSigner Signer { get; }

    public TraceRecorder Trace { get; }

    /// <summary>Learns from users' Junk moves over IMAP (null when anti-spam is off).</summary>
    public SpamEngine? Spam { get; }

    /// <summary>The quarantine expiry sweeper (its heartbeat is registered by the health model).</summary>
    internal QuarantineSweeper SweeperService { get; }

    public IMailFeedback Feedback => (IMailFeedback?)Spam ?? NoMailFeedback.Instance;

    public static ProtectionSetup Create(RempartOptions options, DataFolder data, IMailStore store, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(data);
        var p = options.Protection;
        var trace = new TraceRecorder(store.Protection, loggers.CreateLogger<TraceRecorder>());
        var quarantine = new QuarantineService(store, p.Quarantine, loggers.CreateLogger<QuarantineService>(), TimeProvider.System, trace);
        var spam = p.Spam.Enabled ? new SpamEngine(p.Spam, data.SpamPath, store.Blobs, loggers.CreateLogger<SpamEngine>()) : null;
        var services = new ProtectionServices
        {
            Options = options,
            Store = store,
            Loggers = loggers,
            SenderAuth = p.SenderAuth.Enabled ? new SenderAuthenticator(p.SenderAuth, options.Dns, loggers) : null,
            Spam = spam,
            Antivirus = new MalwareScanner(p.Antivirus, loggers.CreateLogger<MalwareScanner>()),
            Rules = new RuleSetCache(store.Protection, loggers),
            Quarantine = quarantine,
            Reputation = new ReputationTracker(p.Connection),
            Dnsbl = p.Connection.Dnsbl.Count == 0 ? null : new DnsblChecker(DnsClientFactory.Create(options.Dns), p.Connection.Dnsbl),
            Trace = trace,
        };
        IOutboundSigner signer = p.Enabled && p.Outbound.DkimSign
            ? new DkimOutboundSigner(new OutboundDkimSigner(new DkimKeyStore(data.DkimPath, p.SenderAuth.DkimSelectorPrefix, TimeProvider.System), loggers.CreateLogger<OutboundDkimSigner>()))
            : NoOutboundSigner.Instance;
        var sweeper = new QuarantineSweeper(quarantine, p.Quarantine, loggers.CreateLogger<QuarantineSweeper>());
        var logger = loggers.CreateLogger<ProtectionSetup>();
        LoadReputation(services.Reputation, data.ReputationPath, logger);
        return new ProtectionSetup(services, new ProtectionFilter(services), signer, trace, spam, sweeper, data.ReputationPath, logger);
    }

    /// <summary>Takes the saved reputation table; an unreadable one is set aside (renamed) and the server starts without it.</summary>
    private static void LoadReputation(ReputationTracker reputation, string path, ILogger logger)
    {
        try
        {
            if (ReputationFile.Load(path) is { } entries)
            {
                LogReputationLoaded(logger, reputation.Import(entries), entries.Count, path);
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            var aside = path + ".unreadable-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
            try
            {
                File.Move(path, aside, overwrite: true);
            }
            catch (IOException)
            {
            }

            LogReputationUnreadable(logger, path, aside, ex.Message);
        }
    }

    private async Task SaveReputationPeriodicallyAsync(CancellationToken stop)
    {
        await Task.Yield();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ReputationSaveInterval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            SaveReputation();
        }
    }

    private void SaveReputation()
    {
        try
        {
            ReputationFile.Save(_reputationPath, Services.Reputation.Export());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogReputationSaveFailed(_logger, _reputationPath, ex);
        }
    }

    [LoggerMessage(EventId = (int)Rempart.Telemetry.EventIds.ProtectionReputationLoaded, Level = LogLevel.Information, Message = "IP reputation: {Taken} of {Count} saved entries loaded from {Path}")]
    private static partial void LogReputationLoaded(ILogger logger, int taken, int count, string path);

    [LoggerMessage(EventId = (int)Rempart.Telemetry.EventIds.ProtectionReputationUnreadable, Level = LogLevel.Warning, Message = "IP reputation file {Path} is unreadable ({Reason}); moved to {Aside}, starting with an empty table")]
    private static partial void LogReputationUnreadable(ILogger logger, string path, string aside, string reason);

    [LoggerMessage(EventId = (int)Rempart.Telemetry.EventIds.ProtectionReputationSaveFailed, Level = LogLevel.Error, Message = "IP reputation could not be saved to {Path}; the next save tries again")]
    private static partial void LogReputationSaveFailed(ILogger logger, string path, Exception ex);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await SweeperService.StopAsync(CancellationToken.None);
            await _sweeper;
        }
        catch (OperationCanceledException)
        {
        }

        await _reputationSaver;
        SaveReputation();

        SweeperService.Dispose();
        Services.Quarantine.Dispose();
        Services.Rules.Dispose();
        await Trace.DisposeAsync();
        Spam?.Dispose();
        _stop.Dispose();
    }
}
