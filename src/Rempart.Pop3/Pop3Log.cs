using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Pop3;

/// <summary>Source-generated POP3 log events (house style, habit 9). No event carries a password.</summary>
internal static partial class Pop3Log
{
    [LoggerMessage(EventId = (int)EventIds.Pop3SessionStarted, Level = LogLevel.Debug, Message = "POP3 session {ConnectionId} from {Remote} on {Listener} (tls={Tls})")]
    public static partial void SessionStarted(ILogger logger, string connectionId, string remote, string listener, bool tls);

    [LoggerMessage(EventId = (int)EventIds.Pop3MaildropOpened, Level = LogLevel.Information, Message = "POP3 session {ConnectionId}: account {AccountId} opened its maildrop ({Count} messages)")]
    public static partial void MaildropOpened(ILogger logger, string connectionId, long accountId, int count);

    [LoggerMessage(EventId = (int)EventIds.Pop3ProtocolError, Level = LogLevel.Information, Message = "POP3 session {ConnectionId}: {Reason}")]
    public static partial void ProtocolError(ILogger logger, string connectionId, string reason);

    [LoggerMessage(EventId = (int)EventIds.ConnectionError, Level = LogLevel.Error, Message = "POP3 session {ConnectionId}: internal error during {Command}")]
    public static partial void InternalError(ILogger logger, Exception exception, string connectionId, string command);

    [LoggerMessage(EventId = (int)EventIds.Pop3Transcript, Level = LogLevel.Debug, Message = "POP3 {ConnectionId} {Direction} {Line}")]
    public static partial void Transcript(ILogger logger, string connectionId, string direction, string line);
}
