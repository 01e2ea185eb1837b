using System.CommandLine;
using System.Runtime.InteropServices;
using Rempart.Server;
using Rempart.Server.Logging;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart serve</c>: runs the server in the foreground until SIGTERM or Ctrl+C.</summary>
internal static class ServeCommand
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var command = new Command("serve", "Run the mail server in the foreground (stops cleanly on SIGTERM or Ctrl+C)");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var options = ctx.Options;
            DataFolder data;
            try
            {
                data = DataFolder.Open(ctx.DataDir);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw CliException.Failed($"cannot use data folder {ctx.DataDir}: {ex.Message}" + Environment.NewLine + "Pass --data DIR with a folder the server can write to.");
            }

            using var loggerFactory = LoggerSetup.Create(options);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var signals = 0;
            void OnSignal(PosixSignalContext signal)
            {
                // First signal: graceful shutdown (finish the current transactions). A second one while shutting
                // down is an impatient operator: let the default action terminate the process.
                if (Interlocked.Increment(ref signals) == 1)
                {
                    signal.Cancel = true;
                    stop.Cancel();
                }
            }

            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            return await ServerRunner.RunAsync(options, data, loggerFactory, stop.Token, ctx.ConfigPath);
        });
        return command;
    }
}
