using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Antivirus;

/// <summary>Typed log events of the antivirus step (house style, habit 9).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = (int)EventIds.AntivirusInfected, Level = LogLevel.Warning, Message = "Malware found: {Signature}")]
    public static partial void Infected(ILogger logger, string signature);

    [LoggerMessage(EventId = (int)EventIds.AntivirusPolicyVerdict, Level = LogLevel.Information, Message = "Attachment policy: {Verdict}, {Reason}")]
    public static partial void PolicyVerdict(ILogger logger, PolicyVerdict verdict, string? reason);

    [LoggerMessage(EventId = (int)EventIds.AntivirusScannerDown, Level = LogLevel.Error, Message = "Antivirus scanner unavailable (fail mode {FailMode}): {Error}")]
    public static partial void ScannerDown(ILogger logger, string failMode, string? error);

    [LoggerMessage(EventId = (int)EventIds.AntivirusNotScanned, Level = LogLevel.Warning, Message = "Message not scanned by clamd: {Reason}")]
    public static partial void NotScanned(ILogger logger, string reason);
}
