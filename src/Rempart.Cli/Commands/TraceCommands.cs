using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart trace</c>: Message trace: search a message's path by sender, recipient, message-id or time.</summary>
internal static class TraceCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        _ = io;
        _ = globals;
        return new Command("trace", "Message trace: search a message's path by sender, recipient, message-id or time");
    }
}
