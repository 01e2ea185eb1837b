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
    StoreTextIndexRebuilding = 2003,
    /// <summary>No longer logged (the end of a rebuild after a restore, until 2026-12-03); kept so the number is not reused.</summary>
    StoreTextIndexRebuilt = 2004,

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

    // 8000 protection pipeline (Rempart.Protection.Pipeline, Reputation)
    ProtectionVerdict = 8000,
    ProtectionConnectionRefused = 8001,
    ProtectionRateLimited = 8002,
    ProtectionStageFailed = 8003,
    ProtectionExternalForwardDropped = 8004,
    ProtectionReputationLoaded = 8005,
    ProtectionReputationUnreadable = 8006,
    ProtectionReputationSaveFailed = 8007,

    // 8300 anti-spam (Rempart.Antispam)
    SpamModelLoaded = 8300,
    SpamModelCorrupt = 8301,
    SpamModelSaveFailed = 8302,
    SpamFeedbackDropped = 8303,
    SpamLearnFailed = 8304,
    SpamLearned = 8305,
    SpamLogisticModelLoaded = 8306,

    // 8400 antivirus and attachment policy (Rempart.Antivirus)
    AntivirusInfected = 8400,
    AntivirusPolicyVerdict = 8401,
    AntivirusScannerDown = 8402,
    AntivirusNotScanned = 8403,

    // 8600 mail-flow rules (Rempart.Protection.Rules)
    RuleRegexTimeout = 8600,
    RuleInvalid = 8601,
    RulesReloaded = 8602,
    RulesReloadFailed = 8603,

    // 8500 sender authentication (SPF, DKIM, ARC, DMARC) and outbound DKIM keys
    SenderAuthChecked = 8500,
    SenderAuthError = 8501,
    DkimKeyLoaded = 8502,
    DkimSignFailed = 8503,

    // 8700 quarantine and message trace (Rempart.Protection.Quarantine, Rempart.Protection.Trace)
    QuarantineHeld = 8700,
    QuarantineReleased = 8701,
    QuarantineDeleted = 8702,
    QuarantineSwept = 8703,
    QuarantineSweepFailed = 8704,
    TraceEventsDropped = 8710,
    TraceWriteFailed = 8711,

    // 9000 backup (Rempart.Backup)
    BackupStarted = 9000,
    BackupCompleted = 9001,
    BackupFailed = 9002,
    BackupPruned = 9003,

    // 9100 health model (Rempart.Monitoring.Health, Rempart.Monitoring.Checks)
    HealthTransition = 9100,
    HealthCheckFailed = 9101,
    HealthProbeAccount = 9102,

    // 9200 alerting (Rempart.Monitoring.Alerting)
    AlertFired = 9200,
    AlertResolved = 9201,
    AlertNotified = 9202,
    AlertChannelFailed = 9203,
    AlertChannelGaveUp = 9204,
    AlertAcknowledged = 9205,
    AlertSilenced = 9206,
    AlertStateFailed = 9207,

    // 9300 report page and admin HTTP (Rempart.Server.Http, Rempart.Monitoring.Reporting)
    ReportLoginSucceeded = 9300,
    ReportLoginFailed = 9301,
    ReportLoginRefusedPlainHttp = 9302,
    ReportTopFailed = 9303,
    HttpsListenerStarted = 9304,
    HttpsListenerUnavailable = 9305,
}
