using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary>rempart probe: see docs/cli.md.</summary>
internal static class ProbeCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var command = new Command("probe", "Not built yet.");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await ctx.Io.Err.WriteLineAsync("error: rempart probe is not built yet.");
            return ExitCodes.Failed;
        });
        return command;
    }
}
