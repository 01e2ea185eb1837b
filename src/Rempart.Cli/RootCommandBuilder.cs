using System.CommandLine;
using Rempart.Cli.Commands;

namespace Rempart.Cli;

internal static class RootCommandBuilder
{
    public static RootCommand Build(CliIo io)
    {
        var globals = new GlobalOptions();
        var root = new RootCommand("Rempart mail server: run it, and administer its domains, users, aliases, groups and queue.");
        root.Options.Add(globals.Data);
        root.Options.Add(globals.Config);
        root.Subcommands.Add(ServeCommand.Build(io, globals));
        root.Subcommands.Add(StatusCommand.Build(io, globals));
        root.Subcommands.Add(DomainCommands.Build(io, globals));
        root.Subcommands.Add(UserCommands.Build(io, globals));
        root.Subcommands.Add(AliasCommands.BuildAlias(io, globals));
        root.Subcommands.Add(AliasCommands.BuildGroup(io, globals));
        root.Subcommands.Add(QueueCommands.Build(io, globals));
        root.Subcommands.Add(RouteCommands.Build(io, globals));
        root.Subcommands.Add(ConfigCommands.Build(io, globals));
        root.Subcommands.Add(DkimCommands.Build(io, globals));
        root.Subcommands.Add(SpamCommands.Build(io, globals));
        root.Subcommands.Add(RuleCommands.Build(io, globals));
        root.Subcommands.Add(QuarantineCommands.Build(io, globals));
        root.Subcommands.Add(TraceCommands.Build(io, globals));
        root.Subcommands.Add(BackupCommands.Build(io, globals));
        root.Subcommands.Add(HealthCommands.Build(io, globals));
        root.Subcommands.Add(AlertCommands.Build(io, globals));
        root.Subcommands.Add(ProbeCommands.Build(io, globals));
        root.Subcommands.Add(StoreCommands.Build(io, globals));
        return root;
    }
}
