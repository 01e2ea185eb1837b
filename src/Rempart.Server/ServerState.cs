namespace Rempart.Server;

/// <summary>What /readyz reports: set by the runner as the server comes up and goes down.</summary>
public sealed class ServerState
{
    private volatile string? _notReady = "starting";

    public bool IsReady => _notReady is null;

    public string NotReadyReason => _notReady ?? "";

    public void SetReady() => _notReady = null;

    public void SetNotReady(string reason) => _notReady = reason;
}
