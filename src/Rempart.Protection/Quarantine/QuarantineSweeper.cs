using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Telemetry;

namespace Rempart.Protection.Quarantine;

/// <summary>
/// Every <see cref="QuarantineOptions.SweepInterval"/>, deletes quarantine entries past their expiry (their bodies go
/// with their last reference) and prunes trace events older than <see cref="QuarantineOptions.TraceRetention"/>.
/// The first sweep runs at start, so a server that was down past an expiry catches up at once.
/// </summary>
public sealed partial class QuarantineSweeper(QuarantineService quarantine, QuarantineOptions options, ILogger logger, TimeProvider? time = null) : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Liveness for the health model (set by the server): beats after each sweep, fails when one throws.</summary>
    public WorkerHeartbeat? Liveness { get; set; }

    /// <summary>Sweeps completed since start (tests wait on it).</summary>
    public int Sweeps { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await quarantine.SweepAsync(stoppingToken);
                Sweeps++;
                Liveness?.Beat();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The next sweep retries; held mail is only kept longer meanwhile.
                LogSweepFailed(logger, ex);
                Liveness?.Failed(ex);
            }

            try
            {
                await Task.Delay(options.SweepInterval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = (int)EventIds.QuarantineSweepFailed, Level = LogLevel.Error, Message = "Quarantine and trace sweep failed; it runs again at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
