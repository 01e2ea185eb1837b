using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rempart.Protection.Quarantine;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart trace</c>: Message trace: search a message's path by sender, recipient, message-id or time.</summary>
internal static class TraceCommands
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var sender = new Option<string?>("--sender") { Description = "Envelope sender (a whole address matches exactly; a part such as a domain matches anywhere)", HelpName = "ADDRESS" };
        var recipient = new Option<string?>("--recipient") { Description = "Envelope recipient (same matching as --sender)", HelpName = "ADDRESS" };
        var messageId = new Option<string?>("--message-id") { Description = "Message-ID header, with or without angle brackets", HelpName = "ID" };
        var traceId = new Option<string?>("--id") { Description = "Trace id (the queue id shown in logs and in the Received header)", HelpName = "TRACEID" };
        var since = new Option<string?>("--since") { Description = "Events at or after: a duration back from now (90s, 30m, 1h, 2d, 1w) or an ISO 8601 time", HelpName = "WHEN" };
        var until = new Option<string?>("--until") { Description = "Events at or before (same forms as --since)", HelpName = "WHEN" };
        var limit = new Option<int>("--limit") { Description = "At most N events (the most recent ones)", HelpName = "N", DefaultValueFactory = _ => 1000 };
        var json = new Option<bool>("--json") { Description = "Print the events as a JSON array (for scripts)" };
        var command = new Command("trace", "Message trace: search a message's path by sender, recipient, message-id or time")
        {
            sender, recipient, messageId, traceId, since, until, limit, json,
        };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var now = io.Host.Time.GetUtcNow();
            var from = ParseWhen(ctx.Parse.GetValue(since), "--since", now);
            var to = ParseWhen(ctx.Parse.GetValue(until), "--until", now);
            if (from is not null && to is not null && from > to)
            {
                throw CliException.Usage("--since is after --until.");
            }

            var max = ctx.Parse.GetValue(limit);
            if (max < 1)
            {
                throw CliException.Usage("--limit must be a positive number.");
            }

            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var query = new TraceQuery(ctx.Parse.GetValue(sender), ctx.Parse.GetValue(recipient), ctx.Parse.GetValue(messageId), ctx.Parse.GetValue(traceId), from, to, max);
            var events = await store.Protection.QueryTraceAsync(query, ct);
            if (ctx.Parse.GetValue(json))
            {
                io.Line(JsonSerializer.Serialize(events, Json));
                return ExitCodes.Ok;
            }

            if (events.Count == 0)
            {
                io.Hint("No trace events match. Widen the search (--since 7d, a domain instead of an address) or check the spelling.");
                return ExitCodes.Ok;
            }

            PrintGrouped(io, events);
            if (events.Count == max)
            {
                io.Hint($"Showing the {Formats.Count(max)} most recent matching events; narrow with --since/--until or raise --limit.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>One block per trace id (a message on this server), blocks in order of their first event.</summary>
    private static void PrintGrouped(CliIo io, IReadOnlyList<TraceEvent> events)
    {
        var first = true;
        foreach (var group in events.GroupBy(e => e.TraceId, StringComparer.Ordinal))
        {
            if (!first)
            {
                io.Line("");
            }

            first = false;
            var head = group.First();
            var subject = group.Select(e => e.Subject).FirstOrDefault(s => !string.IsNullOrEmpty(s));
            var messageId = group.Select(e => e.MessageId).FirstOrDefault(m => !string.IsNullOrEmpty(m));
            io.Line(
                $"Trace {SafeText.Clean(group.Key, 80)}  from {SafeText.Clean(head.Sender.Length == 0 ? "<>" : head.Sender, 80)}" +
                (subject is null ? "" : $"  subject \"{SafeText.Clean(subject, 80)}\"") +
                (messageId is null ? "" : $"  message-id <{SafeText.Clean(messageId, 120)}>"));
            io.Table(
                ["TIME", "EVENT", "RECIPIENT", "REMOTE IP", "DETAIL"],
                group.Select(e => (IReadOnlyList<string>)
                [
                    Formats.Time(e.Time),
                    e.Kind.ToString(),
                    SafeText.Clean(e.Recipient ?? "-", 80),
                    SafeText.Clean(e.RemoteIp ?? "-", 45),
                    SafeText.Clean(e.Detail, 160),
                ]));
        }
    }

    /// <summary>A duration back from now ("90s", "30m", "1h", "2d", "1w") or an ISO 8601 time (UTC when it has no offset).</summary>
    internal static DateTimeOffset? ParseWhen(string? value, string option, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var v = value.Trim();
        var unit = char.ToLowerInvariant(v[^1]);
        if (v.Length > 1 && unit is 's' or 'm' or 'h' or 'd' or 'w' &&
            int.TryParse(v.AsSpan(0, v.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            var span = unit switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                _ => TimeSpan.FromDays(7.0 * n),
            };
            return span < now - DateTimeOffset.MinValue ? now - span : DateTimeOffset.MinValue;
        }

        if (DateTimeOffset.TryParse(v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }

        throw CliException.Usage($"{option} '{value}' is not a time: use a duration back from now such as 30m, 1h, 2d or 1w, or an ISO 8601 time such as 2026-11-28T09:00:00Z.");
    }
}
