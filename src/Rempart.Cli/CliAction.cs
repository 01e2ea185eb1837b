using System.CommandLine;
using Rempart.Server;
using Rempart.Store;

namespace Rempart.Cli;

/// <summary>Binds a command body and maps every failure to a message on stderr and an exit code.</summary>
internal static class CliAction
{
    public static void Set(Command command, CliIo io, GlobalOptions globals, Func<CliContext, CancellationToken, Task<int>> body) =>
        command.SetAction(async (parse, ct) =>
        {
            var context = new CliContext(io, globals, parse);
            try
            {
                return await body(context, ct);
            }
            catch (CliException ex)
            {
                await io.Err.WriteLineAsync("error: " + ex.Message);
                return ex.ExitCode;
            }
            catch (ConfigException ex)
            {
                await io.Err.WriteLineAsync("error: " + ex.Message);
                return ExitCodes.Usage;
            }
            catch (StoreException ex)
            {
                // The store refuses with a reason the user can act on (duplicate, still in use, ...).
                await io.Err.WriteLineAsync("error: " + ex.Message);
                return ExitCodes.Failed;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                await io.Err.WriteLineAsync("error: interrupted.");
                return ExitCodes.Interrupted;
            }
            catch (Exception ex)
            {
                // Unexpected: say what it was so the operator can report it; the exit code still says "failed".
                await io.Err.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}");
                await io.Err.WriteLineAsync("This is unexpected; check the data folder and configuration (rempart status, rempart config check).");
                return ExitCodes.Failed;
            }
        });
}
