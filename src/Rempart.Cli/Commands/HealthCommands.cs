using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary>rempart health: see docs/cli.md.</summary>
internal static class HealthCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var command = new Command("health", "Not built yet.");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await ctx.Io.Err.WriteLineAsync("error: rempart health is not built yet.");
            return ExitCodes.Failed;
        });
        return command;
    }
}
