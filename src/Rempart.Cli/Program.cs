using System.CommandLine;

namespace Rempart.Cli;

/// <summary>Entry point of the <c>rempart</c> command (docs/cli.md).</summary>
public static class Program
{
    private static Task<int> Main(string[] args) =>
        RunAsync(args, Console.In, Console.Out, Console.Error, new CliHost { IsTerminal = !Console.IsOutputRedirected, IsInputTerminal = !Console.IsInputRedirected });

    /// <summary>
    /// Runs one command line in-process with the given streams and returns the exit code:
    /// 0 success, 1 the operation failed, 2 usage or configuration error.
    /// </summary>
    public static Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr) =>
        RunAsync(args, stdin, stdout, stderr, new CliHost());

    internal static async Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, CliHost host)
    {
        var io = new CliIo(stdin, stdout, stderr, host);
        var root = RootCommandBuilder.Build(io);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // "Required command was not provided" next to "Unrecognized command 'x'" only adds noise.
            var errors = parse.Errors.Where(e => parse.UnmatchedTokens.Count == 0 || !e.Message.StartsWith("Required command", StringComparison.Ordinal)).ToList();
            if (errors.Count == 0)
            {
                errors = [.. parse.Errors];
            }

            foreach (var error in errors)
            {
                await stderr.WriteLineAsync("error: " + error.Message);
            }

            await stderr.WriteLineAsync($"Run '{HelpCommandLine(parse)}' to see the commands and options.");
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,

            // Each action maps exceptions to exit codes itself (CliAction), and `serve` handles SIGTERM/SIGINT itself
            // so that shutdown is graceful; the library must do neither.
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };
        return await parse.InvokeAsync(invocation, host.CancellationToken);
    }

    private static string HelpCommandLine(ParseResult parse)
    {
        var names = new List<string>();
        for (var c = parse.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Add(c.Command is RootCommand ? "rempart" : c.Command.Name);
        }

        names.Reverse();
        return string.Join(' ', names) + " --help";
    }
}
