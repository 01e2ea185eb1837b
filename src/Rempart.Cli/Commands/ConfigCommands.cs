using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rempart.Server;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart config check|show</c>.</summary>
internal static class ConfigCommands
{
    private const string Redacted = "(redacted)";

    private static readonly string[] SecretWords = ["password", "secret", "token", "apikey", "privatekey"];

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var config = new Command("config", "Check or print the configuration");

        var check = new Command("check", "Load and validate the configuration; print OK or what is wrong (exit 2)");
        CliAction.Set(check, io, globals, (ctx, _) =>
        {
            var options = ctx.Options;
            io.Line($"OK: {ctx.ConfigPath ?? "built-in defaults (no configuration file)"}");
            io.Line($"host name {options.HostName}, {options.Listeners.All().Count(l => l.Options.Enabled)} listeners enabled, {options.Routes.Count} outbound routes");
            return Task.FromResult(ExitCodes.Ok);
        });

        var show = new Command("show", "Print the effective configuration (file plus defaults) as JSON, secrets redacted");
        CliAction.Set(show, io, globals, (ctx, _) =>
        {
            var node = JsonSerializer.SerializeToNode(ctx.Options, ConfigLoader.JsonOptions) ?? new JsonObject();
            Redact(node);
            io.Line(node.ToJsonString(ConfigLoader.JsonOptions));
            return Task.FromResult(ExitCodes.Ok);
        });

        config.Subcommands.Add(check);
        config.Subcommands.Add(show);
        return config;
    }

    /// <summary>Replaces the value of every key that names a secret, wherever it is (routes today, more later).</summary>
    internal static void Redact(JsonNode node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj.ToList())
                {
                    if (value is JsonValue && IsSecret(key))
                    {
                        obj[key] = Redacted;
                    }
                    else if (value is not null)
                    {
                        Redact(value);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    if (item is not null)
                    {
                        Redact(item);
                    }
                }

                break;
        }
    }

    private static bool IsSecret(string key)
    {
        var k = key.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
        return SecretWords.Any(w => k.Contains(w, StringComparison.OrdinalIgnoreCase));
    }
}
