using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Monitoring.Alerting;
using Rempart.Monitoring.Health;
using Rempart.Monitoring.Probes;

namespace Rempart.Cli.Commands;

/// <summary>
/// <c>rempart probe</c>: the health model's protocol probes and the end-to-end mail-flow probe, run against any
/// SMTP, IMAP, POP3 or HTTP(S) server (docs/monitoring/probe.md). Exit 0 when every probe passed (certificate
/// warnings included), 1 when one failed, 2 for a usage error.
/// </summary>
internal static class ProbeCommands
{
    /// <summary>Environment variable holding the password when --password-stdin is not used.</summary>
    public const string PasswordVariable = "REMPART_PROBE_PASSWORD";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var targets = new Argument<string[]>("URL")
        {
            Description = "Targets: smtp://host[:25], smtps://, submission://user@host[:587], imap://, imaps://user@host, pop3://, pop3s://, http://host/path, https://host/path",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var startTls = new Option<bool>("--starttls") { Description = "Use STARTTLS on plain smtp, imap and pop3 targets (or write smtp+starttls://...)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = $"Read the password of targets with a user from the first line of stdin (else from ${PasswordVariable})" };
        var verify = new Option<bool>("--verify-cert") { Description = "Fail on an untrusted certificate chain or a name mismatch (the default)" };
        var insecure = new Option<bool>("--insecure") { Description = "Report certificate problems without failing (self-signed test servers); expiry within 7 days still fails" };
        var timeout = new Option<string?>("--timeout") { Description = "Deadline of each probe: 10s, 2m or hh:mm:ss [default: 10s, mail flow 60s]", HelpName = "DURATION" };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON (one document per round with --watch)" };
        var steps = new Option<bool>("--steps") { Description = "Also print every protocol step with its reply and time" };
        var expect = new Option<int?>("--expect-status") { Description = "http(s): the status the GET must answer [default: any 2xx or 3xx]", HelpName = "CODE" };
        var mailFlow = new Option<bool>("--mail-flow") { Description = "Also run the end-to-end probe: send through --submission, find the message in --imap's INBOX, delete it" };
        var submission = new Option<string?>("--submission") { Description = "Mail flow: where to submit, with the user (submission://user@host:587, smtps://user@host)", HelpName = "URL" };
        var imap = new Option<string?>("--imap") { Description = "Mail flow: the probe mailbox (imaps://user@host, imap://user@host with --starttls)", HelpName = "URL" };
        var from = new Option<string?>("--from") { Description = "Mail flow: sender address [default: the submission user]", HelpName = "ADDRESS" };
        var to = new Option<string?>("--to") { Description = "Mail flow: recipient, delivered to the --imap mailbox [default: the IMAP user]", HelpName = "ADDRESS" };
        var watch = new Option<string?>("--watch") { Description = "Repeat every INTERVAL (30s, 5m...) until Ctrl-C", HelpName = "INTERVAL" };
        var count = new Option<int?>("--count") { Description = "With --watch: stop after N rounds", HelpName = "N" };
        var alert = new Option<bool>("--alert") { Description = "With --watch: send state changes to the alerting channels of the configuration (monitoring.alerting)" };
        var failAfter = new Option<int>("--fail-after") { Description = "With --watch: rounds a target must fail in a row before it is Unhealthy (and alerts)", HelpName = "N", DefaultValueFactory = _ => 2 };

        var command = new Command("probe", "Probe SMTP, IMAP, POP3 and HTTP(S) servers (greeting, a real command, TLS certificate) and the end-to-end mail flow")
        {
            targets, startTls, passwordStdin, verify, insecure, timeout, json, steps, expect,
            mailFlow, submission, imap, from, to, watch, count, alert, failAfter,
        };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var p = ctx.Parse;
            if (p.GetValue(verify) && p.GetValue(insecure))
            {
                throw CliException.Usage("--verify-cert and --insecure contradict each other; give one.");
            }

            var verifyCert = !p.GetValue(insecure);
            var useStartTls = p.GetValue(startTls);
            var list = new List<ProbeTarget>();
            foreach (var text in p.GetValue(targets) ?? [])
            {
                list.Add(ParseTarget(text, useStartTls, verifyCert, "URL") with { ExpectStatus = p.GetValue(expect) });
            }

            MailFlowTarget? flow = null;
            if (p.GetValue(mailFlow))
            {
                var sub = ParseTarget(p.GetValue(submission) ?? throw CliException.Usage("--mail-flow needs --submission URL (e.g. submission://probe@mail.example.com)."), useStartTls, verifyCert, "--submission");
                var box = ParseTarget(p.GetValue(imap) ?? throw CliException.Usage("--mail-flow needs --imap URL (e.g. imaps://probe@mail.example.com)."), useStartTls, verifyCert, "--imap");
                if (sub.Protocol != "smtp" || box.Protocol != "imap")
                {
                    throw CliException.Usage("--submission must be an smtp/submission URL and --imap an imap URL.");
                }

                if (sub.User is null || box.User is null)
                {
                    throw CliException.Usage("--mail-flow needs a user in both URLs (submission://user@host, imaps://user@host).");
                }

                var sender = p.GetValue(from) ?? (sub.User.Contains('@', StringComparison.Ordinal) ? sub.User : null)
                    ?? throw CliException.Usage("--mail-flow: give --from ADDRESS (the submission user is not an address).");
                var recipient = p.GetValue(to) ?? (box.User.Contains('@', StringComparison.Ordinal) ? box.User : null)
                    ?? throw CliException.Usage("--mail-flow: give --to ADDRESS (the IMAP user is not an address).");
                flow = new MailFlowTarget(sub, box, sender, recipient);
            }
            else if (p.GetValue(submission) is not null || p.GetValue(imap) is not null)
            {
                throw CliException.Usage("--submission and --imap belong to --mail-flow.");
            }

            if (list.Count == 0 && flow is null)
            {
                throw CliException.Usage("give at least one URL to probe (e.g. rempart probe imaps://mail.example.com) or --mail-flow.");
            }

            var probeDeadline = ParseDuration(p.GetValue(timeout), "--timeout") ?? TimeSpan.FromSeconds(10);
            var flowDeadline = ParseDuration(p.GetValue(timeout), "--timeout") ?? TimeSpan.FromSeconds(60);
            var interval = ParseDuration(p.GetValue(watch), "--watch");
            var rounds = p.GetValue(count);
            if (rounds is < 1)
            {
                throw CliException.Usage("--count must be at least 1.");
            }

            if ((rounds is not null || p.GetValue(alert)) && interval is null)
            {
                throw CliException.Usage("--count and --alert go with --watch INTERVAL.");
            }

            if (p.GetValue(failAfter) < 1)
            {
                throw CliException.Usage("--fail-after must be at least 1.");
            }

            if (list.Any(t => t.User is not null) || flow is not null)
            {
                var password = await ReadPasswordAsync(io, p.GetValue(passwordStdin), ct);
                list = [.. list.Select(t => t.User is null ? t : t with { Password = password })];
                if (flow is not null)
                {
                    flow = flow with { Submission = flow.Submission with { Password = password }, Imap = flow.Imap with { Password = password } };
                }
            }

            var run = new ProbeRun(io, list, flow, probeDeadline, flowDeadline, p.GetValue(json), p.GetValue(steps));
            if (interval is null)
            {
                return await run.RoundAsync(ct);
            }

            await using var alerts = p.GetValue(alert) ? OpenAlerts(ctx) : null;
            return await run.WatchAsync(interval.Value, rounds, alerts, ctx.Options.Monitoring.Alerting.GroupWait, p.GetValue(failAfter), ct);
        });
        return command;
    }

    private static ProbeTarget ParseTarget(string text, bool startTls, bool verify, string option) =>
        ProbeUri.TryParse(text, startTls, out var target, out var error)
            ? target! with { VerifyCertificate = verify }
            : throw CliException.Usage(option + ": " + error);

    private static async Task<string> ReadPasswordAsync(CliIo io, bool fromStdin, CancellationToken ct)
    {
        string? password;
        if (fromStdin)
        {
            if (io.Host.IsInputTerminal)
            {
                io.Hint("Password (it will be echoed; pipe it in to avoid that):");
            }

            password = await io.In.ReadLineAsync(ct);
            if (string.IsNullOrEmpty(password))
            {
                throw CliException.Usage("--password-stdin: no password on stdin. Pipe it in, for example: printf '%s\\n' \"$PASSWORD\" | rempart probe imaps://probe@mail.example.com --password-stdin");
            }
        }
        else
        {
            password = Environment.GetEnvironmentVariable(PasswordVariable);
            if (string.IsNullOrEmpty(password))
            {
                throw CliException.Usage($"a target has a user: give its password with --password-stdin or in ${PasswordVariable} (never as an argument).");
            }
        }

        return password;
    }

    /// <summary>"30s", "5m", "2h", a number of seconds, or hh:mm:ss.</summary>
    internal static TimeSpan? ParseDuration(string? text, string option)
    {
        if (text is null)
        {
            return null;
        }

        var v = text.Trim().ToLowerInvariant();
        var unit = v.Length > 0 && char.IsAsciiLetter(v[^1]) ? v[^1] : 's';
        var number = char.IsAsciiLetter(unit) && v.Length > 0 && char.IsAsciiLetter(v[^1]) ? v[..^1] : v;
        if (v.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(v, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        if (double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            TimeSpan? result = unit switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => null,
            };
            if (result is { } r && r <= TimeSpan.FromDays(1))
            {
                return r;
            }
        }

        throw CliException.Usage($"{option} '{text}' is not a duration: use e.g. 10s, 5m, 1h or hh:mm:ss (at most a day).");
    }

    private static AlertManager OpenAlerts(CliContext ctx)
    {
        var monitoring = ctx.Options.Monitoring;
        if (monitoring.Alerting.Channels.Count == 0)
        {
            throw CliException.Usage("--alert: the configuration has no monitoring.alerting.channels (pass --config FILE).");
        }

        var state = Path.Combine(ctx.DataDir, "probe", "alerts.json");
        var server = monitoring.ServerName is { Length: > 0 } name ? name : Environment.MachineName;
        return new AlertManager(monitoring.Alerting, server, null, state, TimeProvider.System, NullLogger.Instance);
    }

    /// <summary>One invocation's targets and output settings.</summary>
    private sealed class ProbeRun(
        CliIo io,
        IReadOnlyList<ProbeTarget> targets,
        MailFlowTarget? flow,
        TimeSpan probeDeadline,
        TimeSpan flowDeadline,
        bool json,
        bool showSteps)
    {
        private readonly Dictionary<string, (HealthState State, int Failures)> _states = new(StringComparer.Ordinal);

        public async Task<int> RoundAsync(CancellationToken ct)
        {
            var results = await ProbeAllAsync(ct);
            Print(results);
            return results.Any(r => r.Status == ProbeStatus.Fail) ? ExitCodes.Failed : ExitCodes.Ok;
        }

        public async Task<int> WatchAsync(TimeSpan interval, int? rounds, AlertManager? alerts, TimeSpan groupWait, int failAfter, CancellationToken ct)
        {
            // Ctrl-C (and SIGTERM) end the watch; the library leaves signals to the commands. The cancellation runs
            // off the signal thread: run inline, the loop would dispose the registration from inside its own handler
            // and wait for itself.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; _ = stop.CancelAsync(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; _ = stop.CancelAsync(); });
            var exit = ExitCodes.Ok;
            var pending = false;
            for (var round = 1; rounds is null || round <= rounds; round++)
            {
                IReadOnlyList<Result> results;
                try
                {
                    results = await ProbeAllAsync(stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    break;
                }

                if (!json)
                {
                    io.Line("-- " + DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture));
                }

                Print(results);
                exit = results.Any(r => r.Status == ProbeStatus.Fail) ? ExitCodes.Failed : ExitCodes.Ok;
                if (alerts is not null)
                {
                    pending = await FeedAsync(alerts, results, failAfter, ct);
                }

                if (rounds is not null && round >= rounds)
                {
                    break;
                }

                try
                {
                    await Task.Delay(interval, stop.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    break;
                }
            }

            if (pending && !stop.IsCancellationRequested)
            {
                // The alert manager groups changes for groupWait before it notifies: give the last round's changes
                // that long to go out before the process ends.
                await Task.Delay(groupWait + TimeSpan.FromSeconds(2), ct);
            }

            return exit;
        }

        /// <summary>
        /// The health model's rule in small: a failing target is Degraded, then Unhealthy once it has failed
        /// <paramref name="failAfter"/> rounds in a row; a certificate warning is Degraded. Only changes are sent.
        /// </summary>
        private async Task<bool> FeedAsync(AlertManager alerts, IReadOnlyList<Result> results, int failAfter, CancellationToken ct)
        {
            var changed = false;
            foreach (var r in results)
            {
                var (before, failures) = _states.GetValueOrDefault(r.Key, (HealthState.Unknown, 0));
                failures = r.Status == ProbeStatus.Fail ? failures + 1 : 0;
                var now = r.Status switch
                {
                    ProbeStatus.Ok => HealthState.Healthy,
                    ProbeStatus.Warn => HealthState.Degraded,
                    _ => failures >= failAfter ? HealthState.Unhealthy : HealthState.Degraded,
                };
                _states[r.Key] = (now, failures);
                if (now != before)
                {
                    changed = true;
                    await alerts.OnTransitionAsync(
                        new HealthTransition(r.Server, r.HealthSet, r.Monitor, before, now, r.Detail, DateTimeOffset.UtcNow), ct);
                }
            }

            return changed;
        }

        private async Task<IReadOnlyList<Result>> ProbeAllAsync(CancellationToken ct)
        {
            var tasks = targets.Select(async t =>
            {
                var outcome = await ProtocolProbe.RunAsync(t, probeDeadline, ct);
                return ToResult(outcome, t.Host, "service", MonitorName(t));
            }).ToList();
            if (flow is not null)
            {
                tasks.Add(Task.Run(async () =>
                {
                    var outcome = await MailFlowProbe.RunAsync(flow, flowDeadline, ct);
                    return ToResult(outcome, flow.Imap.Host, "mailflow", "end-to-end");
                }, ct));
            }

            return await Task.WhenAll(tasks);
        }

        private static string MonitorName(ProbeTarget t) =>
            ProtocolProbe.Describe(t with { User = null }).Split("://")[0] + ":" + t.Port.ToString(CultureInfo.InvariantCulture);

        private static Result ToResult(ProbeOutcome outcome, string server, string set, string monitor)
        {
            var (status, detail) = ProbeVerdict.Judge(outcome, DateTimeOffset.UtcNow);
            return new Result(outcome, status, detail, server, set, monitor);
        }

        private void Print(IReadOnlyList<Result> results)
        {
            if (json)
            {
                var now = DateTimeOffset.UtcNow;
                var doc = results.Select(r => new JsonResult(
                    r.Outcome.Name,
                    r.Status,
                    r.Outcome.Success,
                    Math.Round(r.Outcome.Latency.TotalMilliseconds, 1),
                    r.Detail,
                    r.Outcome.Certificate is { } c
                        ? new JsonCertificate(c.Subject, c.Issuer, c.NotAfter, Math.Floor((c.NotAfter - now).TotalDays), c.ChainValid, c.NameMatches, c.ChainError)
                        : null,
                    r.Outcome.Steps)).ToList();
                io.Line(JsonSerializer.Serialize(doc, Json));
                return;
            }

            io.Table(
                ["TARGET", "STATUS", "LATENCY", "CERTIFICATE", "DETAIL"],
                results.Select(r => (IReadOnlyList<string>)
                [
                    r.Outcome.Name,
                    r.Status.ToString().ToUpperInvariant(),
                    r.Outcome.Latency.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms",
                    Certificate(r.Outcome.Certificate),
                    r.Detail.ReplaceLineEndings(" "),
                ]));
            if (showSteps)
            {
                foreach (var r in results)
                {
                    io.Line("");
                    io.Line(r.Outcome.Name);
                    foreach (var step in r.Outcome.Steps)
                    {
                        io.Line("  " + step);
                    }
                }
            }
        }

        private static string Certificate(CertificateInfo? c)
        {
            if (c is null)
            {
                return "-";
            }

            var days = Math.Floor((c.NotAfter - DateTimeOffset.UtcNow).TotalDays);
            return string.Create(CultureInfo.InvariantCulture, $"{c.NotAfter:yyyy-MM-dd} ({days} d)")
                + (c.ChainValid ? "" : " untrusted") + (c.NameMatches ? "" : " name-mismatch");
        }
    }

    private sealed record Result(ProbeOutcome Outcome, ProbeStatus Status, string Detail, string Server, string HealthSet, string Monitor)
    {
        public string Key => Server + "/" + HealthSet + "/" + Monitor;
    }

    private sealed record JsonCertificate(string Subject, string Issuer, DateTimeOffset NotAfter, double DaysLeft, bool ChainValid, bool NameMatches, string? ChainError);

    private sealed record JsonResult(string Target, ProbeStatus Status, bool Success, double LatencyMs, string Detail, JsonCertificate? Certificate, IReadOnlyList<string> Steps);
}
