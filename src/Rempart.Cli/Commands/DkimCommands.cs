using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart dkim</c>: DKIM signing keys: generate, rotate, list (docs/protection/authentication.md).</summary>
internal static class DkimCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        _ = io;
        _ = globals;
        return new Command("dkim", "DKIM signing keys: generate, rotate, list (docs/protection/authentication.md)");
    }
}
