using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Antispam;

/// <summary>
/// Anti-spam log events (ids 8300-8399 in Telemetry's EventIds, docs/observability.md).
/// </summary>
internal static partial class SpamLog
{
    [LoggerMessage(EventId = (int)EventIds.SpamModelLoaded, Level = LogLevel.Information, Message = "Spam model {Path} loaded: {Spam} spam, {Ham} ham, {Tokens} tokens")]
    public static partial void ModelLoaded(ILogger logger, string path, long spam, long ham, int tokens);

    [LoggerMessage(EventId = (int)EventIds.SpamLogisticModelLoaded, Level = LogLevel.Information, Message = "Spam logistic model {Path} loaded: {Updates} updates, {Coefficients} coefficients")]
    public static partial void LogisticModelLoaded(ILogger logger, string path, long updates, int coefficients);

    [LoggerMessage(EventId = (int)EventIds.SpamModelCorrupt, Level = LogLevel.Error, Message = "Spam model {Path} is unreadable ({Reason}); moved aside to {Aside}, starting with an empty model")]
    public static partial void ModelCorrupt(ILogger logger, string path, string reason, string aside);

    [LoggerMessage(EventId = (int)EventIds.SpamModelSaveFailed, Level = LogLevel.Error, Message = "Spam model {Path} could not be saved")]
    public static partial void ModelSaveFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.SpamFeedbackDropped, Level = LogLevel.Warning, Message = "Spam learning queue full: junk feedback of account {AccountId} dropped")]
    public static partial void LearnQueueFull(ILogger logger, long accountId);

    [LoggerMessage(EventId = (int)EventIds.SpamLearnFailed, Level = LogLevel.Warning, Message = "Spam learning from blob {Hash} of account {AccountId} failed")]
    public static partial void LearnFailed(ILogger logger, string hash, long accountId, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.SpamLearned, Level = LogLevel.Debug, Message = "Spam model of account {AccountId} learned {Count} message(s) as {Kind}")]
    public static partial void Learned(ILogger logger, long accountId, int count, string kind);
}
