using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Protection.Quarantine;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart quarantine</c>: Held messages: list, show, release, delete (docs/protection/quarantine.md).</summary>
internal static class QuarantineCommands
{
    private static readonly string[] Categories = ["spam", "malware", "policy", "rule"];

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var quarantine = new Command("quarantine", "Held messages: list, show, release, delete (docs/protection/quarantine.md)");
        quarantine.Subcommands.Add(List(io, globals));
        quarantine.Subcommands.Add(Show(io, globals));
        quarantine.Subcommands.Add(Release(io, globals));
        quarantine.Subcommands.Add(Delete(io, globals));
        return quarantine;
    }

    private static Argument<long> IdArgument(string description) => new("ID") { Description = description, CustomParser = ParseId };

    private static Option<string?> ByOption() => new("--by")
    {
        Description = "Name recorded as the one who did it [default: your OS user name]",
        HelpName = "NAME",
    };

    private static Command List(CliIo io, GlobalOptions globals)
    {
        var recipient = new Option<string?>("--recipient") { Description = "Only entries for this recipient (a whole address matches exactly; a part such as a domain matches anywhere)", HelpName = "ADDRESS" };
        var sender = new Option<string?>("--sender") { Description = "Only entries from this sender (same matching as --recipient)", HelpName = "ADDRESS" };
        var category = new Option<string?>("--category") { Description = "Only one category: spam, malware, policy or rule", HelpName = "CATEGORY" };
        var all = new Option<bool>("--all") { Description = "Include released entries" };
        var limit = new Option<int>("--limit") { Description = "Show at most N entries, newest first", HelpName = "N", DefaultValueFactory = _ => 100 };
        var command = new Command("list", "List held messages, newest first") { recipient, sender, category, all, limit };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var cat = ctx.Parse.GetValue(category)?.Trim().ToLowerInvariant();
            if (cat is not null && !Categories.Contains(cat, StringComparer.Ordinal))
            {
                throw CliException.Usage($"--category '{cat}' is not a category: use spam, malware, policy or rule.");
            }

            var max = ctx.Parse.GetValue(limit);
            if (max < 1)
            {
                throw CliException.Usage("--limit must be a positive number.");
            }

            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var entries = await store.Protection.ListQuarantineAsync(
                new QuarantineQuery(ctx.Parse.GetValue(recipient), ctx.Parse.GetValue(sender), cat, ctx.Parse.GetValue(all), max), ct);
            if (entries.Count == 0)
            {
                io.Hint("No held messages match.");
                return ExitCodes.Ok;
            }

            io.Table(
                ["ID", "RECEIVED", "CATEGORY", "FROM", "TO", "SUBJECT", "REASON", "EXPIRES", "RELEASED"],
                entries.Select(e => (IReadOnlyList<string>)
                [
                    Formats.Count(e.Id),
                    Formats.Time(e.Received),
                    e.Category,
                    SafeText.Clean(e.Sender.Length == 0 ? "<>" : e.Sender, 60),
                    SafeText.Clean(e.Recipients.Count == 1 ? e.Recipients[0] : $"{e.Recipients[0]} (+{e.Recipients.Count - 1})", 60),
                    SafeText.Clean(e.Subject, 50),
                    SafeText.Clean(e.Reason, 50),
                    Formats.Time(e.Expires),
                    e.Released is { } r ? Formats.Time(r) + " by " + SafeText.Clean(e.ReleasedBy, 30) : "-",
                ]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Show(CliIo io, GlobalOptions globals)
    {
        var id = IdArgument("Quarantine entry id (see rempart quarantine list)");
        var maxBody = new Option<int>("--max-body") { Description = "Show at most N characters of the body", HelpName = "N", DefaultValueFactory = _ => QuarantinePreviewer.DefaultMaxBodyChars };
        var command = new Command("show", "Show a safe preview of a held message: headers, text body (HTML as text), attachment names; nothing is opened or run") { id, maxBody };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var entryId = ctx.Parse.GetValue(id);
            var max = ctx.Parse.GetValue(maxBody);
            if (max < 0)
            {
                throw CliException.Usage("--max-body must be 0 or more.");
            }

            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            using var service = Service(ctx, store);
            var preview = await service.PreviewAsync(entryId, max, ct) ?? throw NotFound(entryId);
            io.Out.Write(preview.ToText());
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Release(CliIo io, GlobalOptions globals)
    {
        var id = IdArgument("Quarantine entry id to release");
        var by = ByOption();
        var command = new Command("release", "Deliver a held message to its recipients' INBOX (remote recipients: the outbound queue); a message is released once") { id, by };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var entryId = ctx.Parse.GetValue(id);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            using var service = Service(ctx, store);
            ReleaseResult result;
            try
            {
                result = await service.ReleaseAsync(entryId, Who(ctx, by), ct);
            }
            catch (QuarantineException ex)
            {
                throw CliException.Failed(ex.Message);
            }

            io.Line($"Released quarantine entry {Formats.Count(result.Id)} (by {result.ReleasedBy}):");
            io.Table(
                ["RECIPIENT", "OUTCOME", "WHERE"],
                result.Destinations.Select(d => (IReadOnlyList<string>)[SafeText.Clean(d.Recipient, 80), d.Outcome.ToString().ToLowerInvariant(), SafeText.Clean(d.Where, 120)]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(CliIo io, GlobalOptions globals)
    {
        var id = IdArgument("Quarantine entry id to delete");
        var by = ByOption();
        var command = new Command("delete", "Delete a held message for good (nobody gets it)") { id, by };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var entryId = ctx.Parse.GetValue(id);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            using var service = Service(ctx, store);
            if (!await service.DeleteAsync(entryId, Who(ctx, by), ct))
            {
                throw NotFound(entryId);
            }

            io.Line($"Deleted quarantine entry {Formats.Count(entryId)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static QuarantineService Service(CliContext ctx, IMailStore store) =>
        new(store, ctx.Options.Protection.Quarantine, NullLogger.Instance, ctx.Io.Host.Time);

    /// <summary>--by, else the OS user name: recorded in the entry and in the Released trace event.</summary>
    private static string Who(CliContext ctx, Option<string?> by) =>
        ctx.Parse.GetValue(by) is { Length: > 0 } name ? name.Trim() : Environment.UserName;

    private static long ParseId(ArgumentResult result)
    {
        var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
        {
            return id;
        }

        result.AddError($"'{token}' is not a quarantine entry id (a positive number; see rempart quarantine list).");
        return 0;
    }

    private static CliException NotFound(long id) =>
        CliException.Failed($"no quarantine entry {Formats.Count(id)} (it may have expired or been deleted); list entries with: rempart quarantine list --all");
}
