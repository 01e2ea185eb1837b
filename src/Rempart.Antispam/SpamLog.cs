using Microsoft.Extensions.Logging;

namespace Rempart.Antispam;

/// <summary>
/// Anti-spam log events. Ids 8600-8699 are reserved for this library (to be listed in Telemetry's EventIds by the
/// lead; kept local so that parallel edits of the shared enum do not collide).
/// </summary>
internal static partial class SpamLog
{
    [LoggerMessage(EventId = 8600, Level = LogLevel.Information, Message = "Spam model {Path} loaded: {Spam} spam, {Ham} ham, {Tokens} tokens")]
    public static partial void ModelLoaded(ILogger logger, string path, long spam, long ham, int tokens);

    [LoggerMessage(EventId = 8601, Level = LogLevel.Error, Message = "Spam model {Path} is unreadable ({Reason}); moved aside to {Aside}, starting with an empty model")]
    public static partial void ModelCorrupt(ILogger logger, string path, string reason, string aside);

    [LoggerMessage(EventId = 8602, Level = LogLevel.Error, Message = "Spam model {Path} could not be saved")]
    public static partial void ModelSaveFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 8603, Level = LogLevel.Warning, Message = "Spam learning queue full: junk feedback of account {AccountId} dropped")]
    public static partial void LearnQueueFull(ILogger logger, long accountId);

    [LoggerMessage(EventId = 8604, Level = LogLevel.Warning, Message = "Spam learning from blob {Hash} of account {AccountId} failed")]
    public static partial void LearnFailed(ILogger logger, string hash, long accountId, Exception exception);

    [LoggerMessage(EventId = 8605, Level = LogLevel.Debug, Message = "Spam model of account {AccountId} learned {Count} message(s) as {Kind}")]
    public static partial void Learned(ILogger logger, long accountId, int count, string kind);
}
