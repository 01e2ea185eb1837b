using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Imap;

internal static partial class ImapLog
{
    [LoggerMessage(EventId = (int)EventIds.ImapSessionStarted, Level = LogLevel.Debug, Message = "IMAP session {ConnectionId} from {Remote} (tls: {Tls})")]
    public static partial void SessionStarted(ILogger logger, string connectionId, string remote, bool tls);

    [LoggerMessage(EventId = (int)EventIds.ImapProtocolError, Level = LogLevel.Information, Message = "IMAP session {ConnectionId}: protocol error: {Error}")]
    public static partial void ProtocolError(ILogger logger, string connectionId, string error);

    [LoggerMessage(EventId = (int)EventIds.ConnectionError, Level = LogLevel.Warning, Message = "IMAP session {ConnectionId} ended by an internal error")]
    public static partial void InternalError(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.ImapCommandTrace, Level = LogLevel.Trace, Message = "IMAP {ConnectionId} C: {Line}")]
    public static partial void ClientLine(ILogger logger, string connectionId, string line);
}
