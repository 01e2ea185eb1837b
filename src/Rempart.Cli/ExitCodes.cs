namespace Rempart.Cli;

/// <summary>Exit codes scripts can rely on (docs/cli.md, "Exit codes").</summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Ok = 0;

    /// <summary>The operation failed: not found, already exists, refused by the store, server error.</summary>
    public const int Failed = 1;

    /// <summary>The command line or the configuration is wrong; nothing was changed.</summary>
    public const int Usage = 2;

    /// <summary>Interrupted (SIGINT) before the operation finished.</summary>
    public const int Interrupted = 130;
}

/// <summary>An expected failure: the message is printed as is (it says what to do next) and the code returned.</summary>
internal sealed class CliException : Exception
{
    public CliException()
        : this(ExitCodes.Failed, "failed")
    {
    }

    public CliException(string message)
        : this(ExitCodes.Failed, message)
    {
    }

    public CliException(string message, Exception inner)
        : base(message, inner) => ExitCode = ExitCodes.Failed;

    public CliException(int exitCode, string message)
        : base(message) => ExitCode = exitCode;

    public int ExitCode { get; }

    /// <summary>Exit 1: not found, already exists, refused.</summary>
    public static CliException Failed(string message) => new(ExitCodes.Failed, message);

    /// <summary>Exit 2: bad arguments or configuration.</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);
}
