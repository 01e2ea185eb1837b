using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Rempart.Store;

namespace Rempart.Protection.Rules;

/// <summary>
/// Reads and validates the JSON definition of a mail-flow rule (docs/protection/rules.md). Every problem is reported
/// with the JSON path of the value at fault, so an administrator can fix a rule without guessing.
/// </summary>
public static class RuleParser
{
    /// <summary>How long one regular expression may run on one value; past it the match counts as "no match".</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest pattern accepted, to keep rules readable and regex construction cheap.</summary>
    public const int MaxPatternLength = 1000;

    /// <summary>Largest definition accepted (the store keeps it verbatim).</summary>
    public const int MaxDefinitionLength = 64 * 1024;

    /// <summary>Most entries in one list (addresses, domains, patterns, conditions, actions).</summary>
    public const int MaxListLength = 1000;

    private static readonly System.Buffers.SearchValues<char> AddressSpecials = System.Buffers.SearchValues.Create(" <>()[],;:\"\\@\t\r\n");

    private const RegexOptions PatternOptions = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
        MaxDepth = 16,
    };

    /// <summary>Condition names, in documentation order (for "unknown condition" hints).</summary>
    public static readonly IReadOnlyList<string> ConditionNames =
    [
        "senderMatches", "recipientMatches", "senderDomainIs", "recipientDomainIs", "fromScope", "toScope",
        "headerMatches", "subjectMatches", "bodyMatches", "subjectOrBodyMatches", "attachmentTypeIs",
        "attachmentNameMatches", "sizeOver", "sclAtLeast",
    ];

    /// <summary>Action names, in documentation order.</summary>
    public static readonly IReadOnlyList<string> ActionNames =
    [
        "reject", "quarantine", "redirectTo", "addRecipients", "bcc", "addHeader", "removeHeader", "prefixSubject",
        "appendDisclaimer", "routeVia", "setScl", "stopProcessing",
    ];

    private static readonly IReadOnlyList<string> TopLevelNames = ["description", "conditions", "exceptIf", "actions"];

    /// <summary>Parses a stored rule; throws <see cref="RuleException"/> naming the rule and every problem.</summary>
    public static TransportRule Parse(TransportRuleRecord record) => Parse(record, knownRoutes: null);

    /// <summary>
    /// Parses a stored rule. With <paramref name="knownRoutes"/>, a <c>routeVia</c> naming no configured route is an
    /// error (the CLI checks this when it has the configuration; the server does not, as routes may change).
    /// </summary>
    public static TransportRule Parse(TransportRuleRecord record, IReadOnlyCollection<string>? knownRoutes)
    {
        var errors = new List<string>();
        if (!IsValidName(record.Name))
        {
            errors.Add($"rule '{record.Name}': name: {NameRule}");
        }

        var rule = ParseDefinition(record.Definition, knownRoutes, errors, record.Name, record.Priority, record.Enabled);
        if (errors.Count > 0 || rule is null)
        {
            throw new RuleException([.. errors.Select(e => e.StartsWith("rule '", StringComparison.Ordinal) ? e : $"rule '{record.Name}': {e}")]);
        }

        return rule;
    }

    /// <summary>Checks a definition; returns the problems (each naming its JSON path), empty when the rule is valid.</summary>
    public static IReadOnlyList<string> Validate(string json) => Validate(json, knownRoutes: null);

    /// <summary>As <see cref="Validate(string)"/>, also checking <c>routeVia</c> against the configured route names.</summary>
    public static IReadOnlyList<string> Validate(string json, IReadOnlyCollection<string>? knownRoutes)
    {
        var errors = new List<string>();
        _ = ParseDefinition(json, knownRoutes, errors, "validate", 0, true);
        return errors;
    }

    /// <summary>What a rule name may be: what the CLI accepts, and what the store holds.</summary>
    public const string NameRule = "a rule name is 1 to 64 characters: letters, digits, '.', '-' and '_', starting with a letter or digit";

    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || !char.IsAsciiLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static TransportRule? ParseDefinition(string json, IReadOnlyCollection<string>? knownRoutes, List<string> errors, string name, int priority, bool enabled)
    {
        if (json.Length > MaxDefinitionLength)
        {
            errors.Add($"the definition is {json.Length} characters; at most {MaxDefinitionLength} are accepted");
            return null;
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $" at line {line + 1}, column {(ex.BytePositionInLine ?? 0) + 1}" : "";
            errors.Add($"not valid JSON{where}: {FirstSentence(ex.Message)}");
            return null;
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                errors.Add($"(root): expected an object with \"conditions\", \"exceptIf\" and \"actions\", found {Kind(root)}");
                return null;
            }

            foreach (var p in root.EnumerateObject())
            {
                if (!TopLevelNames.Contains(p.Name, StringComparer.Ordinal))
                {
                    errors.Add($"{p.Name}: unknown property{Suggest(p.Name, TopLevelNames)}; expected {string.Join(", ", TopLevelNames)}");
                }
            }

            if (root.TryGetProperty("description", out var description) && description.ValueKind != JsonValueKind.String)
            {
                errors.Add($"description: expected a string, found {Kind(description)}");
            }

            var conditions = root.TryGetProperty("conditions", out var c) ? ParseGroups(c, "conditions", errors) : [];
            var exceptions = root.TryGetProperty("exceptIf", out var x) ? ParseGroups(x, "exceptIf", errors) : [];
            RuleActions? actions = null;
            if (root.TryGetProperty("actions", out var a))
            {
                actions = ParseActions(a, knownRoutes, errors);
            }
            else
            {
                errors.Add("actions: missing; a rule needs at least one action (see docs/protection/rules.md)");
            }

            if (errors.Count > 0 || actions is null)
            {
                return null;
            }

            return new TransportRule
            {
                Name = name,
                Priority = priority,
                Enabled = enabled,
                Conditions = conditions,
                Exceptions = exceptions,
                Actions = actions,
            };
        }
    }

    // ------------------------------------------------------------------ conditions

    /// <summary>Accepts one object or a list of objects; every key of an object is one condition.</summary>
    private static List<RuleConditionGroup> ParseGroups(JsonElement e, string path, List<string> errors)
    {
        var groups = new List<RuleConditionGroup>();
        if (e.ValueKind == JsonValueKind.Object)
        {
            groups.Add(ParseGroup(e, path, errors));
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in e.EnumerateArray())
            {
                var itemPath = $"{path}[{i++}]";
                if (item.ValueKind != JsonValueKind.Object)
                {
                    errors.Add($"{itemPath}: expected an object such as {{\"subjectMatches\": \"invoice\"}}, found {Kind(item)}");
                    continue;
                }

                groups.Add(ParseGroup(item, itemPath, errors));
            }

            if (i > MaxListLength)
            {
                errors.Add($"{path}: {i} entries; at most {MaxListLength}");
            }
        }
        else
        {
            errors.Add($"{path}: expected an object or a list of objects, found {Kind(e)}");
        }

        return groups;
    }

    private static RuleConditionGroup ParseGroup(JsonElement e, string path, List<string> errors)
    {
        IReadOnlyList<AddressPattern>? senderMatches = null, recipientMatches = null, attachmentNameMatches = null;
        IReadOnlyList<string>? senderDomainIs = null, recipientDomainIs = null, attachmentTypeIs = null;
        IReadOnlyList<Regex>? subjectMatches = null, bodyMatches = null, subjectOrBodyMatches = null;
        RuleScope? fromScope = null, toScope = null;
        HeaderPattern? headerMatches = null;
        long? sizeOver = null;
        int? sclAtLeast = null;
        var count = 0;
        foreach (var p in e.EnumerateObject())
        {
            count++;
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "senderMatches":
                    senderMatches = Patterns(v, at, errors);
                    break;
                case "recipientMatches":
                    recipientMatches = Patterns(v, at, errors);
                    break;
                case "attachmentNameMatches":
                    attachmentNameMatches = Patterns(v, at, errors);
                    break;
                case "senderDomainIs":
                    senderDomainIs = Domains(v, at, errors);
                    break;
                case "recipientDomainIs":
                    recipientDomainIs = Domains(v, at, errors);
                    break;
                case "attachmentTypeIs":
                    attachmentTypeIs = Strings(v, at, errors, s => s.Length is > 0 and <= 32 && s.All(char.IsAsciiLetterOrDigit) ? null : "a file type is 1 to 32 letters or digits, such as \"exe\", \"zip\" or \"docm\"")
                        ?.Select(s => s.ToLowerInvariant()).ToList();
                    break;
                case "fromScope":
                    fromScope = Scope(v, at, errors);
                    break;
                case "toScope":
                    toScope = Scope(v, at, errors);
                    break;
                case "headerMatches":
                    headerMatches = Header(v, at, errors);
                    break;
                case "subjectMatches":
                    subjectMatches = Regexes(v, at, errors);
                    break;
                case "bodyMatches":
                    bodyMatches = Regexes(v, at, errors);
                    break;
                case "subjectOrBodyMatches":
                    subjectOrBodyMatches = Regexes(v, at, errors);
                    break;
                case "sizeOver":
                    sizeOver = Size(v, at, errors);
                    break;
                case "sclAtLeast":
                    sclAtLeast = Integer(v, at, errors, 0, 9);
                    break;
                default:
                    errors.Add($"{at}: unknown condition{Suggest(p.Name, ConditionNames)}; conditions are {string.Join(", ", ConditionNames)}");
                    break;
            }
        }

        if (count == 0)
        {
            errors.Add($"{path}: empty condition object; leave \"{path.Split('[')[0]}\" out to match every message");
        }

        return new RuleConditionGroup
        {
            Path = path,
            SenderMatches = senderMatches,
            RecipientMatches = recipientMatches,
            SenderDomainIs = senderDomainIs,
            RecipientDomainIs = recipientDomainIs,
            FromScope = fromScope,
            ToScope = toScope,
            HeaderMatches = headerMatches,
            SubjectMatches = subjectMatches,
            BodyMatches = bodyMatches,
            SubjectOrBodyMatches = subjectOrBodyMatches,
            AttachmentTypeIs = attachmentTypeIs,
            AttachmentNameMatches = attachmentNameMatches,
            SizeOver = sizeOver,
            SclAtLeast = sclAtLeast,
        };
    }

    private static RuleScope? Scope(JsonElement v, string at, List<string> errors)
    {
        if (v.ValueKind == JsonValueKind.String)
        {
            switch (v.GetString())
            {
                case "inside":
                    return RuleScope.Inside;
                case "outside":
                    return RuleScope.Outside;
            }
        }

        errors.Add($"{at}: expected \"inside\" or \"outside\" (the organisation: the served domains), found {Describe(v)}");
        return null;
    }

    private static HeaderPattern? Header(JsonElement v, string at, List<string> errors)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{at}: expected {{\"name\": \"X-Header\", \"pattern\": \"regex\"}}, found {Kind(v)}");
            return null;
        }

        string? name = null;
        Regex? pattern = null;
        foreach (var p in v.EnumerateObject())
        {
            switch (p.Name)
            {
                case "name":
                    name = HeaderName(p.Value, $"{at}.name", errors);
                    break;
                case "pattern":
                    pattern = OneRegex(p.Value, $"{at}.pattern", errors);
                    break;
                default:
                    errors.Add($"{at}.{p.Name}: unknown property; expected name and pattern");
                    break;
            }
        }

        if (!v.TryGetProperty("name", out _))
        {
            errors.Add($"{at}.name: missing (the header field name, such as \"X-Mailer\")");
        }

        if (!v.TryGetProperty("pattern", out _))
        {
            errors.Add($"{at}.pattern: missing (a regular expression the header value must match)");
        }

        return name is null || pattern is null ? null : new HeaderPattern(name, pattern);
    }

    private static List<AddressPattern>? Patterns(JsonElement v, string at, List<string> errors)
    {
        var sources = Strings(v, at, errors, _ => null);
        if (sources is null)
        {
            return null;
        }

        var list = new List<AddressPattern>();
        for (var i = 0; i < sources.Count; i++)
        {
            var itemAt = v.ValueKind == JsonValueKind.Array ? $"{at}[{i}]" : at;
            if (CompilePattern(sources[i], itemAt, errors) is { } p)
            {
                list.Add(p);
            }
        }

        return list;
    }

    /// <summary>Compiles a wildcard or /regex/ pattern; null (with an error) when it is not valid.</summary>
    internal static AddressPattern? CompilePattern(string source, string at, List<string> errors)
    {
        if (source.Length == 0)
        {
            errors.Add($"{at}: empty pattern");
            return null;
        }

        if (source.Length >= 2 && source[0] == '/' && source[^1] == '/')
        {
            return CompileRegex(source[1..^1], at, errors) is { } r ? new AddressPattern(source, r) : null;
        }

        if (source.Length > MaxPatternLength)
        {
            errors.Add($"{at}: the pattern is {source.Length} characters; at most {MaxPatternLength}");
            return null;
        }

        // Wildcards match the whole value: "*@example.com", "*.exe", "invoice-??.pdf".
        var regex = "^" + Regex.Escape(source).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$";
        return new AddressPattern(source, new Regex(regex, PatternOptions | RegexOptions.Singleline, MatchTimeout));
    }

    private static List<Regex>? Regexes(JsonElement v, string at, List<string> errors)
    {
        var sources = Strings(v, at, errors, _ => null);
        if (sources is null)
        {
            return null;
        }

        var list = new List<Regex>();
        for (var i = 0; i < sources.Count; i++)
        {
            if (CompileRegex(sources[i], v.ValueKind == JsonValueKind.Array ? $"{at}[{i}]" : at, errors) is { } r)
            {
                list.Add(r);
            }
        }

        return list;
    }

    private static Regex? OneRegex(JsonElement v, string at, List<string> errors)
    {
        if (v.ValueKind != JsonValueKind.String)
        {
            errors.Add($"{at}: expected a regular expression (a string), found {Kind(v)}");
            return null;
        }

        return CompileRegex(v.GetString()!, at, errors);
    }

    private static Regex? CompileRegex(string source, string at, List<string> errors)
    {
        if (source.Length == 0)
        {
            errors.Add($"{at}: empty regular expression (it would match every value)");
            return null;
        }

        if (source.Length > MaxPatternLength)
        {
            errors.Add($"{at}: the regular expression is {source.Length} characters; at most {MaxPatternLength}");
            return null;
        }

        try
        {
            return new Regex(source, PatternOptions, MatchTimeout);
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{at}: invalid regular expression \"{source}\": {ex.Message}");
            return null;
        }
    }

    private static List<string>? Domains(JsonElement v, string at, List<string> errors)
    {
        var list = Strings(v, at, errors, s => NormalizeDomain(s) is null ? "not a domain name (expected something like \"example.com\")" : null);
        return list?.Select(s => NormalizeDomain(s)!).ToList();
    }

    /// <summary>Lower-case ASCII (IDNA) form of a domain, or null when it is not a host name.</summary>
    internal static string? NormalizeDomain(string s)
    {
        s = s.Trim().TrimEnd('.');
        if (s.Length is 0 or > 253)
        {
            return null;
        }

        try
        {
            s = new IdnMapping().GetAscii(s).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }

        foreach (var label in s.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return null;
            }
        }

        return s;
    }

    /// <summary>A string or a list of strings; <paramref name="check"/> returns an error text or null.</summary>
    private static List<string>? Strings(JsonElement v, string at, List<string> errors, Func<string, string?> check)
    {
        var list = new List<string>();
        var ok = true;
        if (v.ValueKind == JsonValueKind.String)
        {
            var s = v.GetString()!;
            if (check(s) is { } problem)
            {
                errors.Add($"{at}: \"{s}\": {problem}");
                ok = false;
            }

            list.Add(s);
        }
        else if (v.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in v.EnumerateArray())
            {
                var itemAt = $"{at}[{i++}]";
                if (item.ValueKind != JsonValueKind.String)
                {
                    errors.Add($"{itemAt}: expected a string, found {Kind(item)}");
                    ok = false;
                    continue;
                }

                var s = item.GetString()!;
                if (check(s) is { } problem)
                {
                    errors.Add($"{itemAt}: \"{s}\": {problem}");
                    ok = false;
                }

                list.Add(s);
            }

            if (i == 0)
            {
                errors.Add($"{at}: empty list; give at least one value");
                ok = false;
            }
            else if (i > MaxListLength)
            {
                errors.Add($"{at}: {i} entries; at most {MaxListLength}");
                ok = false;
            }
        }
        else
        {
            errors.Add($"{at}: expected a string or a list of strings, found {Kind(v)}");
            ok = false;
        }

        return ok ? list : null;
    }

    private static long? Size(JsonElement v, string at, List<string> errors)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= 0)
        {
            return n;
        }

        if (v.ValueKind == JsonValueKind.String && ParseSize(v.GetString()!) is { } parsed)
        {
            return parsed;
        }

        errors.Add($"{at}: expected a size in bytes (a whole number such as 10485760, or \"10MB\", \"500KB\"), found {Describe(v)}");
        return null;
    }

    /// <summary>"123", "500KB", "10MB", "1GB" (binary multiples); null when not a size.</summary>
    internal static long? ParseSize(string s)
    {
        s = s.Trim();
        long multiplier = 1;
        foreach (var (suffix, m) in new[] { ("KB", 1024L), ("MB", 1024L * 1024), ("GB", 1024L * 1024 * 1024), ("B", 1L) })
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                multiplier = m;
                s = s[..^suffix.Length].TrimEnd();
                break;
            }
        }

        return long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= long.MaxValue / multiplier ? n * multiplier : null;
    }

    private static int? Integer(JsonElement v, string at, List<string> errors, int min, int max)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= min && n <= max)
        {
            return n;
        }

        errors.Add($"{at}: expected a whole number from {min} to {max}, found {Describe(v)}");
        return null;
    }

    // ------------------------------------------------------------------ actions

    /// <summary>Accepts one object or a list of objects; each key is one action (a list allows repeats, such as two headers).</summary>
    private static RuleActions? ParseActions(JsonElement e, IReadOnlyCollection<string>? knownRoutes, List<string> errors)
    {
        var objects = new List<(JsonElement, string)>();
        if (e.ValueKind == JsonValueKind.Object)
        {
            objects.Add((e, "actions"));
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in e.EnumerateArray())
            {
                var itemPath = $"actions[{i++}]";
                if (item.ValueKind != JsonValueKind.Object)
                {
                    errors.Add($"{itemPath}: expected an object such as {{\"prefixSubject\": \"[EXTERNAL]\"}}, found {Kind(item)}");
                    continue;
                }

                objects.Add((item, itemPath));
            }
        }
        else
        {
            errors.Add($"actions: expected an object or a list of objects, found {Kind(e)}");
            return null;
        }

        RuleReject? reject = null;
        string? quarantine = null, prefix = null, disclaimer = null, route = null;
        int? setScl = null;
        var stop = false;
        var redirect = new List<string>();
        var add = new List<string>();
        var bcc = new List<string>();
        var addHeaders = new List<KeyValuePair<string, string>>();
        var removeHeaders = new List<string>();
        var count = 0;
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (obj, path) in objects)
        {
            foreach (var p in obj.EnumerateObject())
            {
                count++;
                var at = $"{path}.{p.Name}";
                var v = p.Value;

                // Single-valued actions given twice would silently drop one; lists and headers may repeat.
                if (p.Name is not ("redirectTo" or "addRecipients" or "bcc" or "addHeader" or "removeHeader") && ActionNames.Contains(p.Name, StringComparer.Ordinal))
                {
                    if (seen.TryGetValue(p.Name, out var first))
                    {
                        errors.Add($"{at}: \"{p.Name}\" is already set at {first}; give it once");
                        continue;
                    }

                    seen[p.Name] = at;
                }

                switch (p.Name)
                {
                    case "reject":
                        reject = Reject(v, at, errors);
                        break;
                    case "quarantine":
                        quarantine = Quarantine(v, at, errors);
                        break;
                    case "redirectTo":
                        redirect.AddRange(Addresses(v, at, errors));
                        break;
                    case "addRecipients":
                        add.AddRange(Addresses(v, at, errors));
                        break;
                    case "bcc":
                        bcc.AddRange(Addresses(v, at, errors));
                        break;
                    case "addHeader":
                        AddHeader(v, at, errors, addHeaders);
                        break;
                    case "removeHeader":
                        foreach (var (name, i) in (Strings(v, at, errors, _ => null) ?? []).Select((n, i) => (n, i)))
                        {
                            var nameAt = v.ValueKind == JsonValueKind.Array ? $"{at}[{i}]" : at;
                            if (CheckHeaderName(name, nameAt, errors))
                            {
                                removeHeaders.Add(name);
                            }
                        }

                        break;
                    case "prefixSubject":
                        prefix = Text(v, at, errors, 200);
                        break;
                    case "appendDisclaimer":
                        disclaimer = Disclaimer(v, at, errors);
                        break;
                    case "routeVia":
                        route = Route(v, at, errors, knownRoutes);
                        break;
                    case "setScl":
                        setScl = Integer(v, at, errors, -1, 9);
                        break;
                    case "stopProcessing":
                        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False)
                        {
                            stop = v.GetBoolean();
                        }
                        else
                        {
                            errors.Add($"{at}: expected true or false, found {Describe(v)}");
                        }

                        break;
                    default:
                        errors.Add($"{at}: unknown action{Suggest(p.Name, ActionNames)}; actions are {string.Join(", ", ActionNames)}");
                        break;
                }
            }
        }

        if (count == 0)
        {
            errors.Add("actions: no action given; a rule needs at least one (see docs/protection/rules.md)");
        }

        if (reject is not null && (quarantine is not null || redirect.Count > 0))
        {
            errors.Add("actions: \"reject\" cannot be combined with \"quarantine\" or \"redirectTo\" (a rejected message goes nowhere)");
        }

        return new RuleActions
        {
            Reject = reject,
            Quarantine = quarantine,
            RedirectTo = redirect,
            AddRecipients = add,
            Bcc = bcc,
            AddHeaders = addHeaders,
            RemoveHeaders = removeHeaders,
            PrefixSubject = prefix,
            Disclaimer = disclaimer,
            RouteVia = route,
            SetScl = setScl,
            StopProcessing = stop,
        };
    }

    private static RuleReject? Reject(JsonElement v, string at, List<string> errors)
    {
        if (v.ValueKind == JsonValueKind.String)
        {
            var text = ReplyText(v.GetString()!, $"{at}", errors);
            return text is null ? null : new RuleReject(550, "5.7.1", text);
        }

        if (v.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{at}: expected {{\"text\": \"...\", \"code\": 550, \"enhanced\": \"5.7.1\"}} or a text, found {Kind(v)}");
            return null;
        }

        var code = 550;
        var enhanced = "5.7.1";
        string? replyText = null;
        var ok = true;
        foreach (var p in v.EnumerateObject())
        {
            switch (p.Name)
            {
                case "code":
                    // RFC 5321 4.2: 4yz is a temporary refusal (the sender retries), 5yz permanent (a bounce).
                    if (p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var c) && c is >= 400 and <= 599)
                    {
                        code = c;
                    }
                    else
                    {
                        errors.Add($"{at}.code: expected an SMTP reply code from 400 to 599 (550 by default), found {Describe(p.Value)}");
                        ok = false;
                    }

                    break;
                case "enhanced":
                    // RFC 3463: class.subject.detail, class 4 or 5.
                    if (p.Value.ValueKind == JsonValueKind.String && Regex.IsMatch(p.Value.GetString()!, @"^[45]\.[0-9]{1,3}\.[0-9]{1,3}$", RegexOptions.CultureInvariant))
                    {
                        enhanced = p.Value.GetString()!;
                    }
                    else
                    {
                        errors.Add($"{at}.enhanced: expected an enhanced status code such as \"5.7.1\" (RFC 3463), found {Describe(p.Value)}");
                        ok = false;
                    }

                    break;
                case "text":
                    replyText = p.Value.ValueKind == JsonValueKind.String ? ReplyText(p.Value.GetString()!, $"{at}.text", errors) : null;
                    if (p.Value.ValueKind != JsonValueKind.String)
                    {
                        errors.Add($"{at}.text: expected a string, found {Kind(p.Value)}");
                    }

                    ok &= replyText is not null;
                    break;
                default:
                    errors.Add($"{at}.{p.Name}: unknown property; expected code, enhanced and text");
                    ok = false;
                    break;
            }
        }

        if (!v.TryGetProperty("text", out _))
        {
            errors.Add($"{at}.text: missing (the text the sender sees in the bounce)");
            return null;
        }

        if (ok && enhanced[0] - '0' != code / 100)
        {
            errors.Add($"{at}: the enhanced code {enhanced} and the reply code {code} disagree (both must be 4xx or both 5xx)");
            ok = false;
        }

        return ok && replyText is not null ? new RuleReject(code, enhanced, replyText) : null;
    }

    /// <summary>The text goes on an SMTP reply line: printable ASCII only (RFC 5321 4.2), bounded.</summary>
    private static string? ReplyText(string s, string at, List<string> errors)
    {
        if (s.Length is 0 or > 400 || s.Any(c => c is < ' ' or > '~'))
        {
            errors.Add($"{at}: the reply text must be 1 to 400 printable ASCII characters on one line (it is sent in the SMTP reply)");
            return null;
        }

        return s;
    }

    private static string? Quarantine(JsonElement v, string at, List<string> errors)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.True:
                return "";
            case JsonValueKind.String:
                return Text(v, at, errors, 400);
            case JsonValueKind.Object:
                string? reason = "";
                foreach (var p in v.EnumerateObject())
                {
                    if (p.Name == "reason")
                    {
                        reason = Text(p.Value, $"{at}.reason", errors, 400);
                    }
                    else
                    {
                        errors.Add($"{at}.{p.Name}: unknown property; expected reason");
                    }
                }

                return reason;
            default:
                errors.Add($"{at}: expected {{\"reason\": \"...\"}}, a reason text or true, found {Describe(v)}");
                return null;
        }
    }

    private static List<string> Addresses(JsonElement v, string at, List<string> errors) =>
        Strings(v, at, errors, s => IsAddress(s) ? null : "not an email address (expected local@domain)")?.Select(s => s.Trim()).ToList() ?? [];

    /// <summary>A plain local@domain address (no display name, no angle brackets).</summary>
    internal static bool IsAddress(string s)
    {
        s = s.Trim();
        var at = s.LastIndexOf('@');
        return s.Length <= 254 && at > 0 && at < s.Length - 1 && s.AsSpan(0, at).IndexOfAny(AddressSpecials) < 0 && NormalizeDomain(s[(at + 1)..]) is not null;
    }

    private static void AddHeader(JsonElement v, string at, List<string> errors, List<KeyValuePair<string, string>> into)
    {
        if (v.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in v.EnumerateArray())
            {
                AddHeader(item, $"{at}[{i++}]", errors, into);
            }

            return;
        }

        if (v.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{at}: expected {{\"name\": \"X-Header\", \"value\": \"...\"}}, found {Kind(v)}");
            return;
        }

        string? name = null, value = null;
        foreach (var p in v.EnumerateObject())
        {
            switch (p.Name)
            {
                case "name":
                    name = HeaderName(p.Value, $"{at}.name", errors);
                    break;
                case "value":
                    value = Text(p.Value, $"{at}.value", errors, 998);
                    break;
                default:
                    errors.Add($"{at}.{p.Name}: unknown property; expected name and value");
                    break;
            }
        }

        if (!v.TryGetProperty("name", out _))
        {
            errors.Add($"{at}.name: missing");
        }

        if (!v.TryGetProperty("value", out _))
        {
            errors.Add($"{at}.value: missing");
        }

        if (name is not null && value is not null)
        {
            into.Add(new(name, value));
        }
    }

    private static string? HeaderName(JsonElement v, string at, List<string> errors)
    {
        if (v.ValueKind != JsonValueKind.String)
        {
            errors.Add($"{at}: expected a header field name (a string), found {Kind(v)}");
            return null;
        }

        var s = v.GetString()!;
        return CheckHeaderName(s, at, errors) ? s : null;
    }

    /// <summary>RFC 5322 2.2: a field name is printable ASCII except the colon.</summary>
    private static bool CheckHeaderName(string s, string at, List<string> errors)
    {
        if (s.Length is 0 or > 76 || s.Any(c => c is <= ' ' or > '~' or ':'))
        {
            errors.Add($"{at}: \"{s}\" is not a header field name (printable ASCII without spaces or ':', such as \"X-Rempart-Rule\")");
            return false;
        }

        return true;
    }

    /// <summary>A one-line text (no CR or LF: it ends up in a header or a reply).</summary>
    private static string? Text(JsonElement v, string at, List<string> errors, int max)
    {
        if (v.ValueKind != JsonValueKind.String)
        {
            errors.Add($"{at}: expected a string, found {Kind(v)}");
            return null;
        }

        var s = v.GetString()!;
        if (s.Length > max || s.Any(char.IsControl))
        {
            errors.Add($"{at}: expected one line of at most {max} characters without control characters");
            return null;
        }

        return s;
    }

    private static string? Disclaimer(JsonElement v, string at, List<string> errors)
    {
        JsonElement text;
        string textAt;
        if (v.ValueKind == JsonValueKind.String)
        {
            text = v;
            textAt = at;
        }
        else if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("text", out text))
        {
            textAt = $"{at}.text";
            foreach (var p in v.EnumerateObject().Where(p => p.Name != "text"))
            {
                errors.Add($"{at}.{p.Name}: unknown property; expected text");
            }
        }
        else
        {
            errors.Add($"{at}: expected {{\"text\": \"...\"}}, found {Describe(v)}");
            return null;
        }

        if (text.ValueKind != JsonValueKind.String || text.GetString() is not { Length: > 0 and <= 8000 } s)
        {
            errors.Add($"{textAt}: expected a text of 1 to 8000 characters");
            return null;
        }

        if (s.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')))
        {
            errors.Add($"{textAt}: control characters other than line breaks and tabs are not allowed");
            return null;
        }

        return s.ReplaceLineEndings("\n");
    }

    private static string? Route(JsonElement v, string at, List<string> errors, IReadOnlyCollection<string>? knownRoutes)
    {
        if (v.ValueKind != JsonValueKind.String || v.GetString() is not { Length: > 0 } name)
        {
            errors.Add($"{at}: expected the name of an outbound route (the routes section of the configuration), found {Describe(v)}");
            return null;
        }

        if (knownRoutes is not null && !knownRoutes.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add(knownRoutes.Count == 0
                ? $"{at}: no route \"{name}\": the configuration defines no routes"
                : $"{at}: no route \"{name}\" in the configuration; routes are {string.Join(", ", knownRoutes)}");
            return null;
        }

        return name;
    }

    // ------------------------------------------------------------------ messages

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => Shorten(e.GetRawText()),
        _ => Kind(e),
    };

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    /// <summary>" (did you mean 'x'?)" when a known name differs only by case or a little spelling.</summary>
    private static string Suggest(string name, IReadOnlyList<string> known)
    {
        var best = known.Select(k => (k, d: Distance(name.ToLowerInvariant(), k.ToLowerInvariant()))).OrderBy(t => t.d).First();
        return best.d <= Math.Max(2, name.Length / 4) ? $" (did you mean \"{best.k}\"?)" : "";
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (prev, cur) = (cur, prev);
        }

        return prev[b.Length];
    }
}
