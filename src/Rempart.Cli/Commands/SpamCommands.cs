using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart spam</c>: Anti-spam classifier: train, status (docs/protection/antispam.md).</summary>
internal static class SpamCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        _ = io;
        _ = globals;
        return new Command("spam", "Anti-spam classifier: train, status (docs/protection/antispam.md)");
    }
}
