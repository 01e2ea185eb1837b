using System.CommandLine;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary>
/// <c>rempart alias add|list|remove</c> (an address forwarding to other addresses) and <c>rempart group add|list|remove</c>
/// (a distribution group: mail goes to every member). Both live in the same table, told apart by <see cref="AliasKind"/>.
/// </summary>
internal static class AliasCommands
{
    public static Command BuildAlias(CliIo io, GlobalOptions globals) =>
        Build(io, globals, AliasKind.Alias, "alias", "Manage aliases: addresses that forward to other (local or remote) addresses", "TARGET", "target");

    public static Command BuildGroup(CliIo io, GlobalOptions globals) =>
        Build(io, globals, AliasKind.Group, "group", "Manage distribution groups: addresses whose mail goes to every member", "MEMBER", "member");

    private static Command Build(CliIo io, GlobalOptions globals, AliasKind kind, string noun, string description, string targetName, string targetNoun)
    {
        var command = new Command(noun, description);
        command.Subcommands.Add(Add(io, globals, kind, noun, targetName, targetNoun));
        command.Subcommands.Add(List(io, globals, kind, noun, targetNoun));
        command.Subcommands.Add(Remove(io, globals, kind, noun));
        return command;
    }

    private static Command Add(CliIo io, GlobalOptions globals, AliasKind kind, string noun, string targetName, string targetNoun)
    {
        var address = new Argument<string>("ADDRESS") { Description = $"The {noun} address, in a served domain" };
        var targets = new Argument<string[]>(targetName)
        {
            Description = $"One or more {targetNoun} addresses (local or remote)",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("add", $"Create {(kind == AliasKind.Group ? "a distribution group" : "an alias")}") { address, targets };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            var list = ctx.Parse.GetRequiredValue(targets).Select(Addresses.Address).Distinct(StringComparer.Ordinal).ToList();
            if (list.Contains(a))
            {
                throw CliException.Usage($"{a} cannot be its own {targetNoun}.");
            }

            await using var store = await UserCommands.OpenForAddressAsync(ctx, a, ct);
            await UserCommands.EnsureAddressFreeAsync(store, a, ct);
            await store.Directory.AddAliasAsync(a, list, kind, ct);
            io.Line($"Added {noun} {a} -> {string.Join(", ", list)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliIo io, GlobalOptions globals, AliasKind kind, string noun, string targetNoun)
    {
        var domain = new Option<string?>("--domain") { Description = $"Only {Plural(noun)} of this domain", HelpName = "D" };
        var command = new Command("list", $"List {Plural(noun)} and their {targetNoun}s") { domain };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var d = ctx.Parse.GetValue(domain) is { } dv ? Addresses.Domain(dv) : null;
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            if (d is not null)
            {
                await CliContext.RequireDomainAsync(store, d, ct);
            }

            var items = (await store.Directory.ListAliasesAsync(d, ct)).Where(x => x.Kind == kind).OrderBy(x => x.Address, StringComparer.Ordinal).ToList();
            if (items.Count == 0)
            {
                io.Hint($"No {Plural(noun)}{(d is null ? "" : " in " + d)}. Add one with: rempart {noun} add ADDRESS {targetNoun.ToUpperInvariant()}...");
                return ExitCodes.Ok;
            }

            io.Table(["ADDRESS", targetNoun.ToUpperInvariant() + "S"], items.Select(x => (IReadOnlyList<string>)[x.Address, string.Join(", ", x.Targets)]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Remove(CliIo io, GlobalOptions globals, AliasKind kind, string noun)
    {
        var address = new Argument<string>("ADDRESS") { Description = $"The {noun} to delete" };
        var command = new Command("remove", $"Delete {(kind == AliasKind.Group ? "a group" : "an alias")}") { address };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var existing = (await store.Directory.ListAliasesAsync(Addresses.DomainOf(a), ct))
                .FirstOrDefault(x => string.Equals(x.Address, a, StringComparison.OrdinalIgnoreCase));
            if (existing is null)
            {
                throw CliException.Failed($"no {noun} {a}; list them with: rempart {noun} list");
            }

            if (existing.Kind != kind)
            {
                var other = existing.Kind == AliasKind.Group ? "group" : "alias";
                throw CliException.Failed($"{a} is {(other == "group" ? "a group" : "an alias")}, not {(noun == "group" ? "a group" : "an alias")}; remove it with: rempart {other} remove {a}");
            }

            if (!await store.Directory.RemoveAliasAsync(a, ct))
            {
                throw CliException.Failed($"no {noun} {a}; list them with: rempart {noun} list");
            }

            io.Line($"Removed {noun} {a}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Plural(string noun) => noun == "alias" ? "aliases" : noun + "s";
}
