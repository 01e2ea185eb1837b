using System.CommandLine;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart user add|list|passwd|disable|enable|remove|quota|sendas</c>.</summary>
internal static class UserCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var user = new Command("user", "Manage mail accounts (mailboxes people log in to)");
        user.Subcommands.Add(Add(io, globals));
        user.Subcommands.Add(List(io, globals));
        user.Subcommands.Add(Passwd(io, globals));
        user.Subcommands.Add(SetDisabled(io, globals, "disable", true));
        user.Subcommands.Add(SetDisabled(io, globals, "enable", false));
        user.Subcommands.Add(Remove(io, globals));
        user.Subcommands.Add(Quota(io, globals));
        user.Subcommands.Add(SendAs(io, globals));
        return user;
    }

    private static Argument<string> AddressArgument(string description = "Account address, for example alice@example.com") =>
        new("ADDRESS") { Description = description };

    private static Option<bool> PasswordStdinOption() =>
        new("--password-stdin") { Description = "Read the password from the first line of stdin (otherwise a strong one is generated and printed once)" };

    private static Command Add(CliIo io, GlobalOptions globals)
    {
        var address = AddressArgument();
        var admin = new Option<bool>("--admin") { Description = "Make the account an administrator" };
        var quotaBytes = new Option<string?>("--quota-bytes") { Description = "Storage limit: bytes with an optional K/M/G/T suffix, or 'unlimited' [default: unlimited]", HelpName = "N" };
        var quotaMessages = new Option<string?>("--quota-messages") { Description = "Message count limit, or 'unlimited' [default: unlimited]", HelpName = "N" };
        var name = new Option<string?>("--name") { Description = "Display name", HelpName = "\"Display Name\"" };
        var passwordStdin = PasswordStdinOption();
        var command = new Command("add", "Create an account with its standard folders (INBOX, Drafts, Sent, Trash, Junk, Archive)")
        {
            address, admin, quotaBytes, quotaMessages, name, passwordStdin,
        };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            var maxBytes = ctx.Parse.GetValue(quotaBytes) is { } qb ? Formats.ParseBytes(qb, "--quota-bytes") : null;
            var maxMessages = ctx.Parse.GetValue(quotaMessages) is { } qm ? Formats.ParseCount(qm, "--quota-messages") : null;
            var displayName = ctx.Parse.GetValue(name) is { } n && !string.IsNullOrWhiteSpace(n) ? n.Trim() : null;
            var generated = !ctx.Parse.GetValue(passwordStdin);
            var password = generated ? Passwords.Generate() : await Passwords.ReadAsync(io, ct);
            var options = ctx.Options;

            await using var store = await OpenForAddressAsync(ctx, a, ct);
            await EnsureAddressFreeAsync(store, a, ct);
            await store.Directory.AddAccountAsync(new NewAccount(a, Passwords.Hash(options, password), ctx.Parse.GetValue(admin), maxBytes, maxMessages, displayName), ct);
            io.Line($"Added user {a}{(ctx.Parse.GetValue(admin) ? " (administrator)" : "")}.");
            if (generated)
            {
                io.Line($"Password: {password}");
                io.Hint("The password is shown only this once; store it now.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliIo io, GlobalOptions globals)
    {
        var domain = new Option<string?>("--domain") { Description = "Only accounts of this domain", HelpName = "D" };
        var command = new Command("list", "List accounts with their status, usage and quota") { domain };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var d = ctx.Parse.GetValue(domain) is { } dv ? Addresses.Domain(dv) : null;
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            if (d is not null)
            {
                await CliContext.RequireDomainAsync(store, d, ct);
            }

            var accounts = await store.Directory.ListAccountsAsync(d, ct);
            if (accounts.Count == 0)
            {
                io.Hint($"No accounts{(d is null ? "" : " in " + d)} yet. Add one with: rempart user add alice@{d ?? "example.com"}");
                return ExitCodes.Ok;
            }

            var rows = new List<IReadOnlyList<string>>();
            foreach (var a in accounts.OrderBy(a => a.Address, StringComparer.Ordinal))
            {
                var q = await store.Messages.GetQuotaAsync(a.Id, ct);
                rows.Add(
                [
                    a.Address,
                    a.DisplayName ?? "",
                    a.IsAdmin ? "admin" : "user",
                    a.Disabled ? "disabled" : "enabled",
                    $"{Formats.Bytes(q.UsedBytes)} / {Formats.Limit(a.MaxBytes, Formats.Bytes)}",
                    $"{Formats.Count(q.UsedMessages)} / {Formats.Limit(a.MaxMessages, Formats.Count)}",
                ]);
            }

            io.Table(["ADDRESS", "NAME", "ROLE", "STATUS", "STORAGE", "MESSAGES"], rows);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Passwd(CliIo io, GlobalOptions globals)
    {
        var address = AddressArgument();
        var passwordStdin = PasswordStdinOption();
        var command = new Command("passwd", "Set an account's password") { address, passwordStdin };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            var generated = !ctx.Parse.GetValue(passwordStdin);
            var password = generated ? Passwords.Generate() : await Passwords.ReadAsync(io, ct);
            var options = ctx.Options;
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var account = await CliContext.RequireAccountAsync(store, a, ct);
            await store.Directory.SetPasswordHashAsync(account.Id, Passwords.Hash(options, password), ct);
            io.Line($"Password of {a} changed.");
            if (generated)
            {
                io.Line($"Password: {password}");
                io.Hint("The password is shown only this once; store it now.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command SetDisabled(CliIo io, GlobalOptions globals, string verb, bool disabled)
    {
        var address = AddressArgument();
        var command = new Command(verb, disabled
            ? "Disable an account: logins are refused and mail to it is rejected; its mail is kept"
            : "Enable a disabled account")
        {
            address,
        };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var account = await CliContext.RequireAccountAsync(store, a, ct);
            if (account.Disabled == disabled)
            {
                io.Line($"{a} is already {verb}d.");
                return ExitCodes.Ok;
            }

            await store.Directory.SetDisabledAsync(account.Id, disabled, ct);
            io.Line($"{(disabled ? "Disabled" : "Enabled")} {a}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Remove(CliIo io, GlobalOptions globals)
    {
        var address = AddressArgument();
        var command = new Command("remove", "Delete an account and all its mail (cannot be undone)") { address };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            if (!await store.Directory.RemoveAccountAsync(a, ct))
            {
                throw CliException.Failed($"no account {a}; list accounts with: rempart user list");
            }

            io.Line($"Removed user {a} and all its mail.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Quota(CliIo io, GlobalOptions globals)
    {
        var address = AddressArgument();
        var bytes = new Option<string?>("--bytes") { Description = "Storage limit: bytes with an optional K/M/G/T suffix, or 'unlimited'", HelpName = "N" };
        var messages = new Option<string?>("--messages") { Description = "Message count limit, or 'unlimited'", HelpName = "N" };
        var command = new Command("quota", "Show an account's usage and limits, or change the limits (an omitted option keeps its value)") { address, bytes, messages };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            var bytesText = ctx.Parse.GetValue(bytes);
            var messagesText = ctx.Parse.GetValue(messages);
            var newBytes = bytesText is null ? null : Formats.ParseBytes(bytesText, "--bytes");
            var newMessages = messagesText is null ? null : Formats.ParseCount(messagesText, "--messages");
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var account = await CliContext.RequireAccountAsync(store, a, ct);
            if (bytesText is not null || messagesText is not null)
            {
                account = account with
                {
                    MaxBytes = bytesText is null ? account.MaxBytes : newBytes,
                    MaxMessages = messagesText is null ? account.MaxMessages : newMessages,
                };
                await store.Directory.SetQuotaAsync(account.Id, account.MaxBytes, account.MaxMessages, ct);
                io.Line($"Quota of {a} set.");
            }

            var usage = await store.Messages.GetQuotaAsync(account.Id, ct);
            io.KeyValues(
            [
                ("Storage", $"{Formats.Bytes(usage.UsedBytes)} of {Formats.Limit(account.MaxBytes, Formats.Bytes)}{Exact(account.MaxBytes)}"),
                ("Messages", $"{Formats.Count(usage.UsedMessages)} of {Formats.Limit(account.MaxMessages, Formats.Count)}"),
            ]);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command SendAs(CliIo io, GlobalOptions globals)
    {
        var address = AddressArgument();
        var other = new Argument<string>("OTHER_ADDRESS") { Description = "Address the account may use as sender (envelope and From:)" };
        var command = new Command("sendas", "Allow an account to send as another address") { address, other };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            var o = Addresses.Address(ctx.Parse.GetRequiredValue(other));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var account = await CliContext.RequireAccountAsync(store, a, ct);
            await store.Directory.GrantSendAsAsync(account.Id, o, ct);
            io.Line($"{a} may now send as {o}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Opens the store for creating <paramref name="address"/>: its domain must be served.</summary>
    internal static async Task<IMailStore> OpenForAddressAsync(CliContext ctx, string address, CancellationToken ct)
    {
        var domain = Addresses.DomainOf(address);
        if (!ctx.DataExists)
        {
            throw CliException.Failed(
                $"domain {domain} is not served; add it with: rempart domain add {domain}" + Environment.NewLine +
                $"(there is no Rempart data in {ctx.DataDir} yet; pass --data DIR if your data folder is elsewhere)");
        }

        var store = await ctx.OpenStoreAsync(create: false, ct);
        try
        {
            await CliContext.RequireDomainAsync(store, domain, ct);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>An address is either an account, an alias or a group, never two of them.</summary>
    internal static async Task EnsureAddressFreeAsync(IMailStore store, string address, CancellationToken ct)
    {
        if (await store.Directory.GetAccountAsync(address, ct) is not null)
        {
            throw CliException.Failed($"{address} already exists as a user account; see it with: rempart user list --domain {Addresses.DomainOf(address)}");
        }

        var alias = (await store.Directory.ListAliasesAsync(Addresses.DomainOf(address), ct))
            .FirstOrDefault(x => string.Equals(x.Address, address, StringComparison.OrdinalIgnoreCase));
        if (alias is not null)
        {
            var kind = alias.Kind == AliasKind.Group ? "group" : "alias";
            throw CliException.Failed($"{address} already exists as {(kind == "group" ? "a" : "an")} {kind}; remove it first with: rempart {kind} remove {address}");
        }
    }

    private static string Exact(long? bytes) => bytes is { } b && b >= 1024 ? $" ({Formats.Count(b)} bytes)" : "";
}
