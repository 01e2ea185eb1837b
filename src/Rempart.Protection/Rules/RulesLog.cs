using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Protection.Rules;

/// <summary>Typed logs of the mail-flow rules (house style habit 9).</summary>
internal static partial class RulesLog
{
    [LoggerMessage(EventId = (int)EventIds.RuleRegexTimeout, Level = LogLevel.Warning, Message = "Mail-flow rule '{Rule}': {Path} took longer than {TimeoutMs} ms on a message and counts as no match; simplify the pattern")]
    public static partial void RegexTimeout(ILogger logger, string rule, string path, double timeoutMs);

    [LoggerMessage(EventId = (int)EventIds.RuleInvalid, Level = LogLevel.Error, Message = "Mail-flow rule '{Rule}' is invalid and is skipped: {Problem}")]
    public static partial void RuleInvalid(ILogger logger, string rule, string problem);

    [LoggerMessage(EventId = (int)EventIds.RulesReloaded, Level = LogLevel.Information, Message = "Mail-flow rules loaded: {Count} enabled of {Total} (version {Version})")]
    public static partial void RulesReloaded(ILogger logger, int count, int total, long version);

    [LoggerMessage(EventId = (int)EventIds.RulesReloadFailed, Level = LogLevel.Error, Message = "Mail-flow rules could not be read from the store; keeping the {Count} rule(s) loaded before")]
    public static partial void RulesReloadFailed(ILogger logger, int count, Exception exception);
}
