using System.CommandLine;
using Rempart.Smtp.Routing;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart route test ADDRESS</c>: which outbound route mail to an address takes, and why.</summary>
internal static class RouteCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var route = new Command("route", "Inspect outbound routing (the routes section of the configuration)");
        var address = new Argument<string>("ADDRESS") { Description = "Recipient address, for example bob@example.org" };
        var test = new Command("test", "Show which route mail to ADDRESS takes (first matching route wins; no match means MX delivery)") { address };
        CliAction.Set(test, io, globals, async (ctx, ct) =>
        {
            var a = Addresses.Address(ctx.Parse.GetRequiredValue(address));
            var options = ctx.Options;
            RouteTable table;
            try
            {
                table = new RouteTable(options);
            }
            catch (ArgumentException ex)
            {
                throw CliException.Usage(ex.Message + Environment.NewLine + "Fix the routes section of the configuration (rempart config check).");
            }

            // Mail for a served domain never leaves the server, whatever the routes say.
            if (ctx.DataExists)
            {
                var domain = Addresses.DomainOf(a);
                await using var store = await ctx.OpenStoreAsync(create: false, ct);
                if (await store.Directory.IsLocalDomainAsync(domain, ct))
                {
                    io.Line($"address:  {a}");
                    io.Line($"domain:   {domain}");
                    io.Line("decision: local domain: delivered to local mailboxes (routes apply to other domains only)");
                    return ExitCodes.Ok;
                }
            }

            await io.Out.WriteAsync(table.Explain(a));
            return ExitCodes.Ok;
        });
        route.Subcommands.Add(test);
        return route;
    }
}
