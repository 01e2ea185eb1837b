using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Smtp.Inbound;

/// <summary>Typed logs of inbound SMTP (house style habit 9).</summary>
internal static partial class SmtpLog
{
    [LoggerMessage(EventId = (int)EventIds.SmtpSessionStarted, Level = LogLevel.Debug, Message = "SMTP session {ConnectionId} ({Role}) from {Remote}")]
    public static partial void SessionStarted(ILogger logger, string connectionId, SmtpRole role, string remote);

    [LoggerMessage(EventId = (int)EventIds.SmtpMessageAccepted, Level = LogLevel.Information, Message = "SMTP {ConnectionId} accepted {QueueId} from <{Sender}> for {Recipients} recipient(s), {Size} bytes, {Local} local, {Remote} remote")]
    public static partial void MessageAccepted(ILogger logger, string connectionId, string queueId, string sender, int recipients, long size, int local, int remote);

    [LoggerMessage(EventId = (int)EventIds.SmtpMessageRejected, Level = LogLevel.Information, Message = "SMTP {ConnectionId} rejected: {Reply}")]
    public static partial void MessageRejected(ILogger logger, string connectionId, string reply);

    [LoggerMessage(EventId = (int)EventIds.SmtpProtocolError, Level = LogLevel.Debug, Message = "SMTP {ConnectionId} closed: {Reason}")]
    public static partial void SessionClosed(ILogger logger, string connectionId, string reason);

    [LoggerMessage(EventId = (int)EventIds.SmtpTranscript, Level = LogLevel.Information, Message = "SMTP {ConnectionId} {Direction}: {Line}")]
    public static partial void Transcript(ILogger logger, string connectionId, string direction, string line);

    [LoggerMessage(EventId = (int)EventIds.SmtpQuarantined, Level = LogLevel.Warning, Message = "SMTP {ConnectionId} message from <{Sender}> quarantined (not delivered): {Reason}")]
    public static partial void Quarantined(ILogger logger, string connectionId, string sender, string reason);

    [LoggerMessage(EventId = (int)EventIds.SmtpDeliveryFailed, Level = LogLevel.Error, Message = "SMTP {ConnectionId} could not store or queue a message; replied 451")]
    public static partial void DeliveryFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.SmtpDeliveryFailed, Level = LogLevel.Warning, Message = "SMTP {ConnectionId} local delivery to account {AccountId} failed: {Outcome}")]
    public static partial void LocalDeliveryFailed(ILogger logger, string connectionId, long accountId, string outcome);

    [LoggerMessage(EventId = (int)EventIds.SmtpQuarantined, Level = LogLevel.Warning, Message = "A recipient added by a mail-flow rule, <{Address}>, is not a local address; skipped")]
    public static partial void AddedRecipientUnknown(ILogger logger, string address);

    [LoggerMessage(EventId = (int)EventIds.ProtectionExternalForwardDropped, Level = LogLevel.Warning, Message = "SMTP {ConnectionId}: not forwarding mail for <{Alias}> to external <{Target}> (external forwarding is off)")]
    public static partial void ExternalForwardDropped(ILogger logger, string connectionId, string alias, string target);
}


/// <summary>
/// The protocol transcript (LoggingOptions.Protocol). AUTH payloads are always redacted (house style habit 8): the
/// initial response and every continuation line become "***".
/// </summary>
internal sealed class SmtpTranscript(ILogger logger, string connectionId, bool enabled)
{
    public bool Enabled => enabled;

    public void Client(string line)
    {
        if (!enabled)
        {
            return;
        }

        SmtpLog.Transcript(logger, connectionId, "C", Redact(line));
    }

    /// <summary>A line sent inside an AUTH exchange: never logged in clear.</summary>
    public void ClientSecret()
    {
        if (enabled)
        {
            SmtpLog.Transcript(logger, connectionId, "C", "***");
        }
    }

    public void Server(string line)
    {
        if (enabled)
        {
            SmtpLog.Transcript(logger, connectionId, "S", line);
        }
    }

    /// <summary>Keeps "AUTH MECH" and hides an initial response.</summary>
    public static string Redact(string line)
    {
        if (line.Length >= 5 && line.StartsWith("AUTH ", StringComparison.OrdinalIgnoreCase))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length > 2 ? parts[0] + " " + parts[1] + " ***" : line;
        }

        return line;
    }
}
