using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart quarantine</c>: Held messages: list, show, release, delete (docs/protection/quarantine.md).</summary>
internal static class QuarantineCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        _ = io;
        _ = globals;
        return new Command("quarantine", "Held messages: list, show, release, delete (docs/protection/quarantine.md)");
    }
}
