namespace Rempart.Telemetry;

/// <summary>
/// Every log event id Rempart writes, grouped by area in blocks of 1000. Persisted in log pipelines: never reuse or
/// renumber an id (docs/observability.md lists them).
/// </summary>
public enum EventIds
{
    // 1000 host
    ServerStarting = 1000,
    ListenerStarted = 1001,
    ListenerFailed = 1002,
    ServerStopping = 1003,
    FirstAdminCreated = 1004,
    CertificateGenerated = 1005,
    CertificateReloaded = 1006,
    ConnectionRejected = 1007,
    ConnectionError = 1008,
    ShutdownDeadlineReached = 1009,

    // 2000 store
    StoreOpened = 2000,
    StoreMigrated = 2001,
    StoreWriteFailed = 2002,

    // 3000 auth
    AuthSucceeded = 3000,
    AuthFailed = 3001,
    AddressBanned = 3002,
    AccountLocked = 3003,

    // 4000 smtp
    SmtpSessionStarted = 4000,
    SmtpMessageAccepted = 4001,
    SmtpMessageRejected = 4002,
    SmtpProtocolError = 4003,
    SmtpTranscript = 4004,
    SmtpQuarantined = 4005,
    SmtpDeliveryFailed = 4006,
    QueueDelivered = 4100,
    QueueDeferred = 4101,
    QueueBounced = 4102,
    QueueDelayNotice = 4103,

    // 5000 imap
    ImapSessionStarted = 5000,
    ImapProtocolError = 5001,
    ImapCommandTrace = 5002,

    // 6000 pop3
    Pop3SessionStarted = 6000,
    Pop3ProtocolError = 6001,
    Pop3MaildropOpened = 6002,
    Pop3Transcript = 6003,

    // 7000 http
    HttpRequestFailed = 7000,
}
