namespace Rempart.Store;

/// <summary>
/// Where protocol code reports message-trace events. <see cref="Record"/> never blocks and never throws: the trace is
/// written in the background in batches (Rempart.Protection.Trace.TraceRecorder), so mail flow never waits for it.
/// </summary>
public interface ITraceSink
{
    void Record(TraceEvent traceEvent);
}

/// <summary>Discards events (tests and tools that do not trace).</summary>
public sealed class NoTraceSink : ITraceSink
{
    public static readonly NoTraceSink Instance = new();

    public void Record(TraceEvent traceEvent)
    {
    }
}
