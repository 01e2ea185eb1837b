using System.CommandLine;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart backup</c>: Encrypted, deduplicated backups: create, list, verify, restore (docs/backup.md).</summary>
internal static class BackupCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        _ = io;
        _ = globals;
        return new Command("backup", "Encrypted, deduplicated backups: create, list, verify, restore (docs/backup.md)");
    }
}
