using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;

namespace Rempart.Server;

/// <summary>Runs the whole server (all listeners, queue runner, HTTP) until cancelled or SIGTERM.</summary>
public static class ServerRunner
{
    /// <summary>Runs until <paramref name="stop"/> is cancelled; returns the process exit code.</summary>
    public static Task<int> RunAsync(RempartOptions options, DataFolder data, ILoggerFactory loggerFactory, CancellationToken stop) => throw new NotImplementedException();
}
