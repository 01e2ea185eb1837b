using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MimeKit;
using Rempart.Protection.Rules;
using Rempart.Store;

namespace Rempart.Cli.Commands;

/// <summary>
/// <c>rempart rule list|show|add|remove|enable|disable|test</c>: mail-flow (transport) rules kept in the store
/// (docs/protection/rules.md). A running server picks up a change on its next message.
/// </summary>
internal static class RuleCommands
{
    private const string Doc = "docs/protection/rules.md";

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var rule = new Command("rule", $"Mail-flow (transport) rules: list, show, add, remove, enable, disable, test ({Doc})");
        rule.Subcommands.Add(List(io, globals));
        rule.Subcommands.Add(Show(io, globals));
        rule.Subcommands.Add(Add(io, globals));
        rule.Subcommands.Add(Remove(io, globals));
        rule.Subcommands.Add(SetEnabled(io, globals, enable: true));
        rule.Subcommands.Add(SetEnabled(io, globals, enable: false));
        rule.Subcommands.Add(Test(io, globals));
        return rule;
    }

    private static Argument<string> NameArgument(string description) => new("NAME") { Description = description };

    private static Command List(CliIo io, GlobalOptions globals)
    {
        var command = new Command("list", "List the rules in evaluation order (priority, then name)");
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var rules = await store.Protection.ListRulesAsync(ct);
            if (rules.Count == 0)
            {
                io.Hint($"No mail-flow rules. Add one with: rempart rule add NAME --file rule.json (see {Doc})");
                return ExitCodes.Ok;
            }

            io.Table(
                ["PRIORITY", "NAME", "STATE", "CONDITIONS", "ACTIONS", "COMMENT"],
                rules.Select(r =>
                {
                    var (conditions, actions) = Summary(r.Definition);
                    return (IReadOnlyList<string>)
                    [
                        r.Priority.ToString(CultureInfo.InvariantCulture),
                        r.Name,
                        State(r),
                        conditions,
                        actions,
                        OneLine(r.Comment ?? ""),
                    ];
                }));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Show(CliIo io, GlobalOptions globals)
    {
        var name = NameArgument("Rule name (see rempart rule list)");
        var command = new Command("show", "Show one rule: its settings and its JSON definition") { name };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var r = await FindAsync(store, ctx.Parse.GetRequiredValue(name), ct);
            io.KeyValues(
            [
                ("Name", r.Name),
                ("Priority", r.Priority.ToString(CultureInfo.InvariantCulture)),
                ("State", State(r)),
                ("Modified", Formats.Time(r.Modified)),
                ("Comment", r.Comment ?? "-"),
            ]);
            io.Line("");
            io.Line(r.Definition.TrimEnd());
            foreach (var problem in Problems(r))
            {
                io.Hint("invalid: " + problem);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Add(CliIo io, GlobalOptions globals)
    {
        var name = NameArgument("Rule name: letters, digits, '.', '-', '_'");
        var priority = new Option<int?>("--priority") { Description = "Evaluation order, lower first [default: after the last rule; kept on --replace]", HelpName = "N" };
        var file = new Option<string?>("--file") { Description = "JSON definition file [default: read from standard input]", HelpName = "FILE" };
        var disabled = new Option<bool>("--disabled") { Description = "Store the rule switched off (enable it with rempart rule enable)" };
        var comment = new Option<string?>("--comment") { Description = "A note for administrators", HelpName = "TEXT" };
        var replace = new Option<bool>("--replace") { Description = "Replace a rule of the same name instead of failing" };
        var command = new Command("add", $"Add a rule from its JSON definition, after checking it ({Doc})") { name, priority, file, disabled, comment, replace };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var ruleName = ctx.Parse.GetRequiredValue(name);
            if (!RuleParser.IsValidName(ruleName))
            {
                throw CliException.Usage($"'{ruleName}' is not a valid rule name: {RuleParser.NameRule}.");
            }

            if (ctx.Parse.GetValue(priority) is < 0)
            {
                throw CliException.Usage("--priority must be 0 or more (lower runs first).");
            }

            var json = await ReadDefinitionAsync(io, ctx.Parse.GetValue(file), ct);
            var errors = RuleParser.Validate(json, KnownRoutes(ctx));
            if (errors.Count > 0)
            {
                throw CliException.Usage(
                    $"rule '{ruleName}' is not valid; nothing was changed:" + Environment.NewLine +
                    string.Join(Environment.NewLine, errors.Select(e => $"  rule '{ruleName}': {e}")) + Environment.NewLine +
                    $"See {Doc} for every condition and action.");
            }

            await using var store = await ctx.OpenStoreAsync(create: true, ct);
            var existing = await store.Protection.ListRulesAsync(ct);
            var same = existing.FirstOrDefault(r => r.Name.Equals(ruleName, StringComparison.OrdinalIgnoreCase));
            if (same is not null && !ctx.Parse.GetValue(replace))
            {
                throw CliException.Failed($"rule {same.Name} already exists; pass --replace to replace it, or see it with: rempart rule show {same.Name}");
            }

            var order = ctx.Parse.GetValue(priority)
                ?? same?.Priority
                ?? (existing.Count == 0 ? 10 : existing.Max(r => r.Priority) + 10);
            var saved = await store.Protection.SaveRuleAsync(
                new TransportRuleRecord(ruleName, order, !ctx.Parse.GetValue(disabled), json, io.Host.Time.GetUtcNow(), ctx.Parse.GetValue(comment) ?? same?.Comment),
                ct);
            io.Line($"{(same is null ? "Added" : "Replaced")} rule {saved.Name} (priority {saved.Priority.ToString(CultureInfo.InvariantCulture)}, {(saved.Enabled ? "enabled" : "disabled")}).");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Remove(CliIo io, GlobalOptions globals)
    {
        var name = NameArgument("Rule name to remove");
        var command = new Command("remove", "Remove a rule") { name };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var ruleName = ctx.Parse.GetRequiredValue(name);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            if (!await store.Protection.DeleteRuleAsync(ruleName, ct))
            {
                throw NotFound(ruleName);
            }

            io.Line($"Removed rule {ruleName}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command SetEnabled(CliIo io, GlobalOptions globals, bool enable)
    {
        var name = NameArgument(enable ? "Rule name to switch on" : "Rule name to switch off");
        var command = new Command(enable ? "enable" : "disable", enable ? "Switch a rule on" : "Switch a rule off (it stays stored)") { name };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var r = await FindAsync(store, ctx.Parse.GetRequiredValue(name), ct);
            if (enable && Problems(r) is [var problem, ..])
            {
                throw CliException.Failed($"rule {r.Name} is not valid and would be skipped: {problem}" + Environment.NewLine + $"Fix it with: rempart rule add {r.Name} --replace --file rule.json");
            }

            if (r.Enabled != enable)
            {
                await store.Protection.SaveRuleAsync(r with { Enabled = enable, Modified = io.Host.Time.GetUtcNow() }, ct);
            }

            io.Line($"Rule {r.Name} is {(enable ? "enabled" : "disabled")}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Test(CliIo io, GlobalOptions globals)
    {
        var name = new Argument<string?>("NAME") { Description = "Rule to test (even when disabled); or --all", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Test every enabled rule, in order, as the server would" };
        var file = new Option<string>("--file") { Description = "The message (.eml, RFC 5322)", HelpName = "FILE", Required = true };
        var sender = new Option<string?>("--sender") { Description = "Envelope sender [default: the From address]; \"\" for the null sender", HelpName = "ADDRESS" };
        var recipients = new Option<string[]>("--recipient") { Description = "Envelope recipient, repeatable [default: To, Cc and Bcc]", HelpName = "ADDRESS" };
        var scl = new Option<int>("--scl") { Description = "Spam confidence level the message has, -1 to 9", DefaultValueFactory = _ => -1 };
        var output = new Option<string?>("--output") { Description = "Write the message as the rules would rewrite it", HelpName = "FILE" };
        var command = new Command("test", "Show which rules match a message and what they would do (nothing is sent or stored)") { name, all, file, sender, recipients, scl, output };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var ruleName = ctx.Parse.GetValue(name);
            var isAll = ctx.Parse.GetValue(all);
            if ((ruleName is null) == !isAll)
            {
                throw CliException.Usage("give either a rule NAME or --all (see rempart rule list).");
            }

            var level = ctx.Parse.GetValue(scl);
            if (level is < -1 or > 9)
            {
                throw CliException.Usage("--scl must be from -1 to 9.");
            }

            var path = ctx.Parse.GetRequiredValue(file);
            byte[] raw;
            try
            {
                raw = await File.ReadAllBytesAsync(path, ct);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw CliException.Failed($"cannot read {path}: {ex.Message}");
            }

            MimeMessage message;
            try
            {
                message = await MimeMessage.LoadAsync(new MemoryStream(raw), ct);
            }
            catch (FormatException ex)
            {
                throw CliException.Failed($"{path} is not a message (RFC 5322): {ex.Message}");
            }

            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var domains = (await store.Directory.ListDomainsAsync(ct)).Select(d => d.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var records = await store.Protection.ListRulesAsync(ct);
            var rules = new List<TransportRule>();
            var invalid = new List<(string Name, string Problem)>();
            if (ruleName is not null)
            {
                var r = await FindAsync(store, ruleName, ct);
                if (!r.Enabled)
                {
                    io.Hint($"Rule {r.Name} is disabled; it is tested as if it were enabled.");
                }

                try
                {
                    rules.Add(RuleParser.Parse(r with { Enabled = true }));
                }
                catch (RuleException ex)
                {
                    throw CliException.Failed("the rule is not valid:" + Environment.NewLine + ex.Message);
                }
            }
            else
            {
                foreach (var r in records)
                {
                    try
                    {
                        rules.Add(RuleParser.Parse(r));
                    }
                    catch (RuleException ex)
                    {
                        invalid.Add((r.Name, ex.Errors[0]));
                    }
                }
            }

            var from = message.From.Mailboxes.FirstOrDefault()?.Address ?? "";
            var envelopeSender = ctx.Parse.GetValue(sender) is { } s ? (s.Length == 0 ? "" : Addresses.Address(s)) : from;
            var given = ctx.Parse.GetValue(recipients) ?? [];
            IReadOnlyList<string> envelopeRecipients = given.Length > 0
                ? [.. given.Select(Addresses.Address)]
                : [.. message.To.Mailboxes.Concat(message.Cc.Mailboxes).Concat(message.Bcc.Mailboxes).Select(m => m.Address).Distinct(StringComparer.OrdinalIgnoreCase)];
            if (envelopeRecipients.Count == 0)
            {
                throw CliException.Usage("the message names no recipient; give one with --recipient ADDRESS.");
            }

            var ruleMessage = RuleMessageBuilder.FromMime(
                message,
                envelopeSender,
                envelopeRecipients,
                raw.LongLength,
                level,
                a => a.LastIndexOf('@') is var at and >= 0 && domains.Contains(a[(at + 1)..]));
            var outcome = new RuleEngine(rules, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).Evaluate(ruleMessage);

            io.KeyValues(
            [
                ("Sender", envelopeSender.Length == 0 ? "<> (null sender)" : envelopeSender + (ruleMessage.IsInternal(envelopeSender) ? " (inside)" : " (outside)")),
                ("Recipients", string.Join(", ", envelopeRecipients.Select(r => r + (ruleMessage.IsInternal(r) ? " (inside)" : " (outside)")))),
                ("Subject", OneLine(ruleMessage.Subject)),
                ("Size", $"{Formats.Bytes(ruleMessage.Size)} ({Formats.Count(ruleMessage.Size)} bytes)"),
                ("Attachments", ruleMessage.Attachments.Count == 0 ? "none" : string.Join(", ", ruleMessage.Attachments.Select(a => $"{a.FileName ?? "(unnamed)"} [{a.DetectedType}]"))),
                ("SCL", level.ToString(CultureInfo.InvariantCulture)),
            ]);
            io.Line("");
            var priorities = records.ToDictionary(r => r.Name, r => r.Priority, StringComparer.OrdinalIgnoreCase);
            io.Table(
                ["PRIORITY", "RULE", "RESULT", "DETAIL"],
                outcome.Evaluations.Select(e => (IReadOnlyList<string>)
                [
                    priorities.TryGetValue(e.Rule, out var p) ? p.ToString(CultureInfo.InvariantCulture) : "-",
                    e.Rule,
                    ResultText(e.Result),
                    e.Detail ?? "",
                ]).Concat(invalid.Select(i => (IReadOnlyList<string>)
                [
                    priorities[i.Name].ToString(CultureInfo.InvariantCulture),
                    i.Name,
                    "invalid (skipped)",
                    i.Problem,
                ])));
            io.Line("");
            foreach (var line in OutcomeLines(outcome))
            {
                io.Line(line);
            }

            var rewrite = MessageRewriter.Rewrite(outcome, raw);
            foreach (var note in rewrite.Notes)
            {
                io.Line("note: " + note);
            }

            if (ctx.Parse.GetValue(output) is { } outPath)
            {
                await File.WriteAllBytesAsync(outPath, rewrite.Message, ct);
                io.Hint($"Wrote the {(rewrite.Changed ? "rewritten" : "unchanged")} message to {outPath}.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static IEnumerable<string> OutcomeLines(RuleOutcome o)
    {
        if (o.IsEmpty)
        {
            yield return "No rule matched: the message would pass unchanged.";
            yield break;
        }

        yield return "Matched: " + string.Join(", ", o.Hits);
        if (o.Reject is { } reject)
        {
            yield return "  reject:          " + reject;
        }

        if (o.Quarantine)
        {
            yield return "  quarantine:      " + o.QuarantineReason;
        }

        if (o.RedirectTo.Count > 0)
        {
            yield return "  redirect to:     " + string.Join(", ", o.RedirectTo) + " (instead of every recipient)";
        }

        if (o.AddRecipients.Count > 0)
        {
            yield return "  add recipients:  " + string.Join(", ", o.AddRecipients);
        }

        if (o.Bcc.Count > 0)
        {
            yield return "  bcc:             " + string.Join(", ", o.Bcc);
        }

        foreach (var h in o.RemoveHeaders)
        {
            yield return "  remove header:   " + h;
        }

        foreach (var (n, v) in o.AddHeaders)
        {
            yield return $"  add header:      {n}: {v}";
        }

        if (o.SubjectPrefix is { } prefix)
        {
            yield return "  subject prefix:  " + prefix;
        }

        if (o.Disclaimer is { } disclaimer)
        {
            yield return "  disclaimer:      " + OneLine(disclaimer);
        }

        if (o.RouteName is { } route)
        {
            yield return "  route via:       " + route;
        }

        if (o.SetScl is { } score)
        {
            yield return "  set SCL:         " + score.ToString(CultureInfo.InvariantCulture);
        }
    }

    private static string ResultText(RuleResult r) => r switch
    {
        RuleResult.Matched => "MATCH",
        RuleResult.NotMatched => "no match",
        RuleResult.Excepted => "excepted",
        RuleResult.Disabled => "disabled",
        RuleResult.NotReached => "not reached (stopped earlier)",
        _ => r.ToString(),
    };

    private static async Task<string> ReadDefinitionAsync(CliIo io, string? path, CancellationToken ct)
    {
        if (path is not null)
        {
            try
            {
                return await File.ReadAllTextAsync(path, Encoding.UTF8, ct);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw CliException.Failed($"cannot read {path}: {ex.Message}");
            }
        }

        if (io.Host.IsInputTerminal)
        {
            throw CliException.Usage($"give the rule's JSON with --file FILE, or pipe it on standard input ({Doc}).");
        }

        var json = await io.In.ReadToEndAsync(ct);
        return json.Trim().Length == 0
            ? throw CliException.Usage($"no rule definition: standard input was empty; give --file FILE ({Doc}).")
            : json;
    }

    /// <summary>Route names to check <c>routeVia</c> against, when a configuration file is in use.</summary>
    private static List<string>? KnownRoutes(CliContext ctx) =>
        ctx.ConfigPath is null ? null : [.. ctx.Options.Routes.Select(r => r.Name)];

    private static async Task<TransportRuleRecord> FindAsync(IMailStore store, string name, CancellationToken ct) =>
        (await store.Protection.ListRulesAsync(ct)).FirstOrDefault(r => r.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw NotFound(name);

    private static IReadOnlyList<string> Problems(TransportRuleRecord r)
    {
        try
        {
            _ = RuleParser.Parse(r);
            return [];
        }
        catch (RuleException ex)
        {
            return ex.Errors;
        }
    }

    private static string State(TransportRuleRecord r) => Problems(r).Count > 0 ? "INVALID" : r.Enabled ? "enabled" : "disabled";

    /// <summary>The condition and action names a definition uses, for the list; "?" when it does not parse.</summary>
    private static (string Conditions, string Actions) Summary(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            return (Keys(doc.RootElement, "conditions", "(every message)") + (doc.RootElement.TryGetProperty("exceptIf", out _) ? " except " + Keys(doc.RootElement, "exceptIf", "") : ""), Keys(doc.RootElement, "actions", "-"));
        }
        catch (JsonException)
        {
            return ("?", "?");
        }
    }

    private static string Keys(JsonElement root, string property, string none)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(property, out var e))
        {
            return none;
        }

        IEnumerable<JsonElement> objects = e.ValueKind == JsonValueKind.Array ? e.EnumerateArray() : [e];
        var names = objects.Where(o => o.ValueKind == JsonValueKind.Object).SelectMany(o => o.EnumerateObject().Select(p => p.Name)).Distinct(StringComparer.Ordinal).ToList();
        return names.Count == 0 ? none : string.Join(",", names);
    }

    private static CliException NotFound(string name) =>
        CliException.Failed($"no rule {name}; list rules with: rempart rule list");

    private static string OneLine(string s)
    {
        var one = s.ReplaceLineEndings(" ").Trim();
        return one.Length <= 60 ? one : one[..57] + "...";
    }
}
