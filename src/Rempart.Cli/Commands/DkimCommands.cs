using System.CommandLine;
using System.Globalization;
using Rempart.SenderAuth.Dkim;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart dkim</c>: DKIM signing keys: generate, rotate, list (docs/protection/authentication.md).</summary>
internal static class DkimCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var dkim = new Command("dkim", "DKIM signing keys: generate, rotate, list (docs/protection/authentication.md)");
        dkim.Subcommands.Add(Generate(io, globals));
        dkim.Subcommands.Add(Rotate(io, globals));
        dkim.Subcommands.Add(List(io, globals));
        return dkim;
    }

    private static Argument<string> DomainArgument(string description) => new("DOMAIN") { Description = description };

    private static Option<string?> SelectorOption() => new("--selector")
    {
        Description = "Selector (one DNS label) [default: the configured prefix and today's date, e.g. rempart20261128]",
        HelpName = "S",
    };

    private static Option<int?> BitsOption(string fallback) => new("--bits")
    {
        Description = $"RSA key size: 1024, 2048, 3072 or 4096 [default: {fallback}]",
        HelpName = "N",
    };

    private static Command Generate(CliIo io, GlobalOptions globals)
    {
        var domain = DomainArgument("Domain whose outbound mail is signed");
        var selector = SelectorOption();
        var bits = BitsOption("protection.senderAuth.dkimKeyBits, 2048");
        var command = new Command("generate", "Create the first DKIM key of a domain and print the DNS record to publish") { domain, selector, bits };
        CliAction.Set(command, io, globals, (ctx, _) =>
        {
            var store = Store(ctx);
            var size = ctx.Parse.GetValue(bits) ?? ctx.Options.Protection.SenderAuth.DkimKeyBits;
            var key = Run(() => store.Generate(ctx.Parse.GetValue(domain)!, ctx.Parse.GetValue(selector), size));
            io.Line($"Created DKIM key {key.Selector} for {key.Domain} ({key.Bits} bits): {key.PrivateKeyPath}");
            io.Line("Publish this TXT record, then outbound mail of the domain is signed with it:");
            PrintRecord(io, key);
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static Command Rotate(CliIo io, GlobalOptions globals)
    {
        var domain = DomainArgument("Domain whose signing key is replaced");
        var selector = SelectorOption();
        var bits = BitsOption("the size of the current key");
        var command = new Command("rotate", "Make a new active DKIM key; the old one is kept as retired (leave its record published for a few days)") { domain, selector, bits };
        CliAction.Set(command, io, globals, (ctx, _) =>
        {
            var store = Store(ctx);
            var name = ctx.Parse.GetValue(domain)!;
            var key = Run(() => store.Rotate(name, ctx.Parse.GetValue(selector), ctx.Parse.GetValue(bits)));
            io.Line($"Created DKIM key {key.Selector} for {key.Domain} ({key.Bits} bits); it signs from now on.");
            io.Line("Publish the new record now. Keep the retired ones published for a few days, so mail signed before the rotation still verifies:");
            PrintRecord(io, key);
            foreach (var old in store.List().Where(k => k.Domain == key.Domain && k.State == DkimKeyState.Retired))
            {
                io.Line("");
                io.Line($"Retired {Formats.Time(old.RetiredAt ?? old.Created)}:");
                PrintRecord(io, old);
            }

            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static Command List(CliIo io, GlobalOptions globals)
    {
        var records = new Option<bool>("--records") { Description = "Also print each key's DNS TXT record" };
        var command = new Command("list", "List the DKIM keys of every domain") { records };
        CliAction.Set(command, io, globals, (ctx, _) =>
        {
            var store = Store(ctx);
            var keys = store.List();
            if (keys.Count == 0)
            {
                io.Hint("No DKIM keys. Create one with: rempart dkim generate example.com");
                return Task.FromResult(ExitCodes.Ok);
            }

            var rotateAfter = ctx.Options.Protection.SenderAuth.DkimRotateAfter;
            io.Table(
                ["DOMAIN", "SELECTOR", "STATE", "BITS", "CREATED", "RETIRED", "DNS NAME"],
                keys.Select(k => (IReadOnlyList<string>)
                [
                    k.Domain,
                    k.Selector,
                    k.State == DkimKeyState.Active ? (store.DueForRotation(k, rotateAfter) ? "active (rotate due)" : "active") : "retired",
                    k.Bits.ToString(CultureInfo.InvariantCulture),
                    Formats.Time(k.Created),
                    k.RetiredAt is { } r ? Formats.Time(r) : "-",
                    k.DnsName,
                ]));
            if (ctx.Parse.GetValue(records))
            {
                foreach (var k in keys)
                {
                    io.Line("");
                    PrintRecord(io, k);
                }
            }

            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static DkimKeyStore Store(CliContext ctx)
    {
        var auth = ctx.Options.Protection.SenderAuth;

        // Same path as DataFolder.DkimPath, without DataFolder.Open creating folders for a mistyped --data.
        return new DkimKeyStore(Path.Combine(ctx.DataDir, "dkim"), auth.DkimSelectorPrefix, ctx.Io.Host.Time);
    }

    private static DkimKeyRecord Run(Func<DkimKeyRecord> action)
    {
        try
        {
            return action();
        }
        catch (ArgumentException ex)
        {
            throw CliException.Usage(ex.Message);
        }
        catch (InvalidOperationException ex)
        {
            throw CliException.Failed(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw CliException.Failed("cannot write the DKIM key: " + ex.Message);
        }
    }

    private static void PrintRecord(CliIo io, DkimKeyRecord key)
    {
        io.Line($"  name:  {key.DnsName}");
        io.Line("  type:  TXT");
        io.Line($"  value: {DkimKeyStore.DnsRecord(key)}");
    }
}
