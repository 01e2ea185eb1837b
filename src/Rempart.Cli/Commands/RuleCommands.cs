using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart rule</c>: Mail-flow (transport) rules: list, show, add, remove, test (docs/protection/rules.md).</summary>
internal static class RuleCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        _ = io;
        _ = globals;
        return new Command("rule", "Mail-flow (transport) rules: list, show, add, remove, test (docs/protection/rules.md)");
    }
}
