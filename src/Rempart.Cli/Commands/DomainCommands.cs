using System.CommandLine;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart domain add|list|remove|catchall</c>.</summary>
internal static class DomainCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var domain = new Command("domain", "Manage the domains this server receives mail for");
        domain.Subcommands.Add(Add(io, globals));
        domain.Subcommands.Add(List(io, globals));
        domain.Subcommands.Add(Remove(io, globals));
        domain.Subcommands.Add(CatchAll(io, globals));
        return domain;
    }

    private static Command Add(CliIo io, GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Domain name, for example example.com" };
        var command = new Command("add", "Start serving a domain") { name };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var d = Addresses.Domain(ctx.Parse.GetRequiredValue(name));
            await using var store = await ctx.OpenStoreAsync(create: true, ct);
            if (await store.Directory.IsLocalDomainAsync(d, ct))
            {
                throw CliException.Failed($"domain {d} already exists; see it with: rempart domain list");
            }

            await store.Directory.AddDomainAsync(d, ct);
            io.Line($"Added domain {d}.");
            io.Hint($"Next: rempart user add postmaster@{d}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliIo io, GlobalOptions globals)
    {
        var command = new Command("list", "List the served domains");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var domains = await store.Directory.ListDomainsAsync(ct);
            if (domains.Count == 0)
            {
                io.Hint("No domains yet. Add one with: rempart domain add example.com");
                return ExitCodes.Ok;
            }

            var accounts = await store.Directory.ListAccountsAsync(null, ct);
            var aliases = await store.Directory.ListAliasesAsync(null, ct);
            io.Table(
                ["DOMAIN", "ACCOUNTS", "ALIASES", "CATCH-ALL", "CREATED"],
                domains.OrderBy(d => d.Name, StringComparer.Ordinal).Select(d => (IReadOnlyList<string>)
                [
                    d.Name,
                    Formats.Count(accounts.Count(a => InDomain(a.Address, d.Name))),
                    Formats.Count(aliases.Count(a => InDomain(a.Address, d.Name))),
                    d.CatchAll ?? "-",
                    Formats.Time(d.Created),
                ]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Remove(CliIo io, GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Domain to stop serving" };
        var command = new Command("remove", "Stop serving a domain (it must have no users or aliases left)") { name };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var d = Addresses.Domain(ctx.Parse.GetRequiredValue(name));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            if (!await store.Directory.IsLocalDomainAsync(d, ct))
            {
                throw CliException.Failed($"no domain {d}; list domains with: rempart domain list");
            }

            var accounts = await store.Directory.ListAccountsAsync(d, ct);
            var aliases = await store.Directory.ListAliasesAsync(d, ct);
            if (accounts.Count > 0 || aliases.Count > 0)
            {
                throw CliException.Failed(
                    $"domain {d} still has {accounts.Count} account(s) and {aliases.Count} alias(es) or group(s); " +
                    $"remove them first (rempart user list --domain {d}, rempart alias list --domain {d}, rempart group list --domain {d}).");
            }

            try
            {
                if (!await store.Directory.RemoveDomainAsync(d, ct))
                {
                    throw CliException.Failed($"no domain {d}; list domains with: rempart domain list");
                }
            }
            catch (StoreException ex)
            {
                throw CliException.Failed($"cannot remove domain {d}: {ex.Message}");
            }

            io.Line($"Removed domain {d}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CatchAll(CliIo io, GlobalOptions globals)
    {
        var name = new Argument<string>("DOMAIN") { Description = "A served domain" };
        var target = new Argument<string?>("TARGET") { Description = "Address that receives mail for unknown local parts (omit to show the current one)", Arity = ArgumentArity.ZeroOrOne };
        var clear = new Option<bool>("--clear") { Description = "Remove the catch-all: unknown local parts are refused again" };
        var command = new Command("catchall", "Show, set or clear the catch-all address of a domain") { name, target, clear };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var d = Addresses.Domain(ctx.Parse.GetRequiredValue(name));
            var t = ctx.Parse.GetValue(target);
            var isClear = ctx.Parse.GetValue(clear);
            if (t is not null && isClear)
            {
                throw CliException.Usage("give either TARGET or --clear, not both.");
            }

            var address = t is null ? null : Addresses.Address(t);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            await CliContext.RequireDomainAsync(store, d, ct);
            if (address is null && !isClear)
            {
                var record = (await store.Directory.ListDomainsAsync(ct)).FirstOrDefault(x => string.Equals(x.Name, d, StringComparison.OrdinalIgnoreCase));
                io.Line(record?.CatchAll ?? "(none)");
                return ExitCodes.Ok;
            }

            await store.Directory.SetCatchAllAsync(d, address, ct);
            io.Line(address is null ? $"Cleared the catch-all of {d}." : $"Mail to unknown addresses at {d} now goes to {address}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static bool InDomain(string address, string domain) =>
        string.Equals(Addresses.DomainOf(address), domain, StringComparison.OrdinalIgnoreCase);
}
