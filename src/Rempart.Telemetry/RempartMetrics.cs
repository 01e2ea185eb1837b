using Prometheus;

namespace Rempart.Telemetry;

/// <summary>
/// Every Prometheus metric Rempart exports on <c>/metrics</c>. Names are an interface for dashboards and alerts:
/// docs/observability.md lists them; add, never rename.
/// </summary>
public static class RempartMetrics
{
    public static readonly Counter ConnectionsAccepted = Metrics.CreateCounter(
        "rempart_connections_accepted_total", "Connections accepted, per listener.", "listener");

    public static readonly Counter ConnectionsRejected = Metrics.CreateCounter(
        "rempart_connections_rejected_total", "Connections refused by a limit or a ban, per listener and reason.", "listener", "reason");

    public static readonly Gauge ConnectionsActive = Metrics.CreateGauge(
        "rempart_connections_active", "Connections open now, per listener.", "listener");

    public static readonly Counter MessagesReceived = Metrics.CreateCounter(
        "rempart_messages_received_total", "Messages accepted, per protocol (smtp, submission, imap-append).", "protocol");

    public static readonly Counter MessagesDelivered = Metrics.CreateCounter(
        "rempart_messages_delivered_total", "Deliveries into local mailboxes or to remote hosts, per kind (local, remote).", "kind");

    public static readonly Counter MessagesRejected = Metrics.CreateCounter(
        "rempart_messages_rejected_total", "Transactions or recipients refused, per protocol and reason.", "protocol", "reason");

    public static readonly Counter Bounces = Metrics.CreateCounter(
        "rempart_bounces_total", "Delivery status notifications generated, per kind (failure, delay).", "kind");

    public static readonly Gauge QueueDepth = Metrics.CreateGauge(
        "rempart_queue_depth", "Outbound queue entries waiting.");

    public static readonly Counter AuthAttempts = Metrics.CreateCounter(
        "rempart_auth_attempts_total", "Authentication attempts, per protocol and outcome.", "protocol", "outcome");

    public static readonly Counter Bans = Metrics.CreateCounter(
        "rempart_bans_total", "Addresses banned for repeated authentication failures.");

    public static readonly Histogram CommandDuration = Metrics.CreateHistogram(
        "rempart_command_duration_seconds", "Time to process one protocol command, per protocol and command.",
        new HistogramConfiguration
        {
            LabelNames = ["protocol", "command"],
            Buckets = Histogram.ExponentialBuckets(0.0001, 4, 10),
        });

    public static readonly Histogram StoreCommitBatch = Metrics.CreateHistogram(
        "rempart_store_commit_batch_size", "Write operations folded into one store commit (group commit).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });

    public static readonly Gauge StoreWalFrames = Metrics.CreateGauge(
        "rempart_store_wal_frames", "Pages in the store's write-ahead log at the last checkpoint (it starts over when they are all copied into the database file).");

    public static readonly Counter QuarantineActions = Metrics.CreateCounter(
        "rempart_quarantine_actions_total", "Quarantine entries held, released, deleted or expired, per action and category.", "action", "category");

    public static readonly Counter TraceEventsDropped = Metrics.CreateCounter(
        "rempart_trace_events_dropped_total", "Message trace events dropped because the trace buffer was full (the store could not keep up).");

    public static readonly Counter ProtectionVerdicts = Metrics.CreateCounter(
        "rempart_protection_verdicts_total", "Final protection verdicts per direction (inbound, outbound) and verdict (inbox, junk, quarantine, reject, tempfail).", "direction", "verdict");

    public static readonly Counter ProtectionDetections = Metrics.CreateCounter(
        "rempart_protection_detections_total", "Messages caught per kind (spam, malware, policy, dmarc, rule, dnsbl, blocklist, reputation, ratelimit).", "kind");

    public static readonly Gauge HealthMonitorState = Metrics.CreateGauge(
        "rempart_health_monitor_state", "State of each health monitor: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy.", "set", "monitor");

    public static readonly Histogram HealthCheckDuration = Metrics.CreateHistogram(
        "rempart_health_check_duration_seconds", "Time one health check run took, per health set.",
        new HistogramConfiguration
        {
            LabelNames = ["set"],
            Buckets = Histogram.ExponentialBuckets(0.001, 4, 9),
        });

    public static readonly Gauge QueueOldestAge = Metrics.CreateGauge(
        "rempart_queue_oldest_age_seconds", "Age of the oldest outbound queue entry (0 when the queue is empty), as the health model last measured it.");
}
