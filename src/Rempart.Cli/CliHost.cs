using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Server;
using Rempart.Store;

namespace Rempart.Cli;

/// <summary>Opens the mail store of a data folder.</summary>
internal delegate Task<IMailStore> StoreOpener(RempartOptions options, DataFolder data, ILoggerFactory loggers, CancellationToken ct);

/// <summary>What the process provides to the commands; tests replace parts of it.</summary>
internal sealed class CliHost
{
    /// <summary>True when stdout is an interactive terminal (tables get borders and colours).</summary>
    public bool IsTerminal { get; init; }

    /// <summary>True when stdin is an interactive terminal: --password-stdin then prompts without echo.</summary>
    public bool IsInputTerminal { get; init; }

    public StoreOpener OpenStore { get; init; } = StoreAccess.OpenDefaultAsync;

    /// <summary>Cancels the running command (and stops <c>serve</c>) in addition to SIGTERM/SIGINT.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>Current time, for queue retries.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
