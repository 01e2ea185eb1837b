using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary>rempart alert: see docs/cli.md.</summary>
internal static class AlertCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var command = new Command("alert", "Not built yet.");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await ctx.Io.Err.WriteLineAsync("error: rempart alert is not built yet.");
            return ExitCodes.Failed;
        });
        return command;
    }
}
