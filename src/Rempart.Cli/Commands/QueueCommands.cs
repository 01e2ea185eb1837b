using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rempart.Smtp.Queue;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart queue list|show|retry|delete</c>: the outbound queue (one entry per message and destination domain).</summary>
internal static class QueueCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var queue = new Command("queue", "Inspect and manage the outbound mail queue");
        queue.Subcommands.Add(List(io, globals));
        queue.Subcommands.Add(Show(io, globals));
        queue.Subcommands.Add(Retry(io, globals));
        queue.Subcommands.Add(Delete(io, globals));
        return queue;
    }

    private static Argument<long> IdArgument(string description) => new("ID") { Description = description, CustomParser = ParseId };

    private static Command List(CliIo io, GlobalOptions globals)
    {
        var command = new Command("list", "List queued entries, next attempt first");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var entries = await new QueueAdmin(store, io.Host.Time).ListAsync(ct);
            if (entries.Count == 0)
            {
                io.Hint("The queue is empty.");
                return ExitCodes.Ok;
            }

            io.Table(
                ["ID", "DOMAIN", "FROM", "RCPTS", "SIZE", "ATTEMPTS", "NEXT ATTEMPT", "EXPIRES", "LAST ERROR"],
                entries.OrderBy(e => e.NextAttempt).ThenBy(e => e.Id).Select(e => (IReadOnlyList<string>)
                [
                    Formats.Count(e.Id),
                    e.Domain,
                    e.Sender,
                    Formats.Count(e.Recipients.Count),
                    Formats.Bytes(e.Size),
                    e.Attempts.ToString(CultureInfo.InvariantCulture),
                    Formats.Time(e.NextAttempt),
                    Formats.Time(e.Expires),
                    Shorten(e.LastError ?? "-", 60),
                ]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Show(CliIo io, GlobalOptions globals)
    {
        var id = IdArgument("Queue entry id (see rempart queue list)");
        var headers = new Option<bool>("--headers") { Description = "Also print the message's header block" };
        var command = new Command("show", "Show one queue entry in full") { id, headers };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var entryId = ctx.Parse.GetValue(id);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var d = await new QueueAdmin(store, io.Host.Time).ShowAsync(entryId, ct) ?? throw NotFound(entryId);
            var e = d.Item;
            var pairs = new List<(string, string)>
            {
                ("Id", Formats.Count(e.Id)),
                ("Domain", e.Domain),
                ("Sender", e.Sender),
            };
            foreach (var r in d.Recipients)
            {
                var extra = (r.Notify is null ? "" : " NOTIFY=" + r.Notify) + (r.OriginalRecipient is null ? "" : " ORCPT=" + r.OriginalRecipient);
                pairs.Add(("Recipient", r.Address + extra));
            }

            pairs.AddRange(
            [
                ("From", OneLine(d.From ?? "-")),
                ("Subject", OneLine(d.Subject ?? "-")),
                ("Message-Id", OneLine(d.MessageId ?? "-")),
                ("Size", $"{Formats.Bytes(e.Size)} ({Formats.Count(e.Size)} bytes)"),
                ("Body", d.BlobHash),
                ("Queued", Formats.Time(e.Created)),
                ("Attempts", e.Attempts.ToString(CultureInfo.InvariantCulture)),
                ("Next attempt", Formats.Time(e.NextAttempt)),
                ("Expires", Formats.Time(e.Expires)),
                ("Last error", e.LastError ?? "-"),
                ("Delay notice", d.DelayNoticeSent ? "sent" : "not sent"),
                ("Envelope id", d.EnvelopeId ?? "-"),
                ("Return", d.Ret ?? "-"),
                ("Route", e.Route ?? "(by domain)"),
            ]);
            io.KeyValues(pairs);
            if (ctx.Parse.GetValue(headers))
            {
                io.Line("");
                io.Line(d.Headers ?? "(message body missing from the blob store)");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Retry(CliIo io, GlobalOptions globals)
    {
        var id = new Argument<long?>("ID") { Description = "Queue entry id to retry now", Arity = ArgumentArity.ZeroOrOne, CustomParser = r => r.Tokens.Count == 0 ? null : ParseId(r) };
        var all = new Option<bool>("--all") { Description = "Retry every entry now" };
        var command = new Command("retry", "Make an entry (or all, with --all) due now; the running server sends it on its next queue scan (within 30 s)") { id, all };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var entryId = ctx.Parse.GetValue(id);
            var isAll = ctx.Parse.GetValue(all);
            if ((entryId is null) == !isAll)
            {
                throw CliException.Usage("give either an ID or --all (see rempart queue list).");
            }

            await using var store = await ctx.OpenStoreAsync(create: false, ct);

            // The store counts only entries it moved; an entry already due counts 0 but exists.
            if (entryId is { } one && await store.Queue.GetAsync(one, ct) is null)
            {
                throw NotFound(one);
            }

            var count = await new QueueAdmin(store, io.Host.Time).RetryAsync(entryId, ct);
            io.Line(entryId is null
                ? $"{Formats.Plural(count, "entry", "entries")} brought forward; every entry is now due."
                : $"Entry {Formats.Count(entryId.Value)} is due now.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(CliIo io, GlobalOptions globals)
    {
        var id = IdArgument("Queue entry id to delete");
        var command = new Command("delete", "Delete a queue entry: its recipients do not get the message, and no bounce is sent") { id };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var entryId = ctx.Parse.GetValue(id);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            if (!await new QueueAdmin(store, io.Host.Time).DeleteAsync(entryId, ct))
            {
                throw NotFound(entryId);
            }

            io.Line($"Deleted queue entry {Formats.Count(entryId)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static long ParseId(ArgumentResult result)
    {
        var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
        {
            return id;
        }

        result.AddError($"'{token}' is not a queue entry id (a positive number; see rempart queue list).");
        return 0;
    }

    private static CliException NotFound(long id) =>
        CliException.Failed($"no queue entry {Formats.Count(id)} (it may have been delivered meanwhile); list entries with: rempart queue list");

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    private static string Shorten(string s, int max)
    {
        var oneLine = OneLine(s);
        return oneLine.Length <= max ? oneLine : oneLine[..(max - 3)] + "...";
    }
}
