using System.CommandLine;

namespace Rempart.Cli;

/// <summary>--data and --config, accepted by every command (before or after the command name).</summary>
internal sealed class GlobalOptions
{
    public const string DefaultData = "./data";
    public const string ConfigFileName = "rempart.json";

    public Option<string> Data { get; } = new("--data")
    {
        Description = "Data folder (database, message bodies, TLS files)",
        HelpName = "DIR",
        DefaultValueFactory = _ => DefaultData,
        Recursive = true,
    };

    public Option<string?> Config { get; } = new("--config")
    {
        Description = $"Configuration file [default: DIR/{ConfigFileName} if it exists, else built-in defaults]",
        HelpName = "FILE",
        Recursive = true,
    };
}
