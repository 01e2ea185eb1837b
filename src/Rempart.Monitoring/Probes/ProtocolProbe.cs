using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Rempart.Monitoring.Probes;

/// <summary>
/// Checks that a listener accepts a connection and answers its protocol's greeting and a real command within a
/// deadline: the service-state probe of the health model, and <c>rempart probe</c> against any server.
/// </summary>
public static class ProtocolProbe
{
    /// <summary>
    /// Runs the probe of <paramref name="target"/>'s protocol. Never throws for a failure of the target (refused
    /// connection, bad reply, TLS error, timeout): the outcome says what failed. Throws only when
    /// <paramref name="ct"/> is cancelled.
    /// </summary>
    public static async Task<ProbeOutcome> RunAsync(ProbeTarget target, TimeSpan deadline, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        var name = Describe(target);
        return await RunGuardedAsync(name, deadline, async (recorder, token) =>
        {
            var protocol = target.Protocol.ToLowerInvariant();
            if (protocol is not ("smtp" or "imap" or "pop3" or "http" or "https"))
            {
                throw new ProbeFailedException($"unknown protocol \"{target.Protocol}\" (smtp, imap, pop3, http)");
            }

            await using var connection = await ProbeConnection.ConnectAsync(target, recorder, token);
            if (target.Tls == ProbeTls.Implicit)
            {
                await connection.UpgradeToTlsAsync(token);
            }

            var detail = protocol switch
            {
                "smtp" => await SmtpAsync(connection, target, token),
                "imap" => await ImapAsync(connection, target, token),
                "pop3" => await Pop3Async(connection, target, token),
                _ => await HttpAsync(connection, target, token),
            };
            return detail;
        }, ct);
    }

    /// <summary>A probe target as a URL without its password, e.g. "imaps://probe@mail.example:993".</summary>
    public static string Describe(ProbeTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var scheme = target.Protocol.ToLowerInvariant() switch
        {
            "smtp" when target.Tls == ProbeTls.Implicit => "smtps",
            "imap" when target.Tls == ProbeTls.Implicit => "imaps",
            "pop3" when target.Tls == ProbeTls.Implicit => "pop3s",
            "http" when target.Tls == ProbeTls.Implicit => "https",
            var p => p,
        };
        var user = target.User is null ? "" : Uri.EscapeDataString(target.User) + "@";
        var host = target.Host.Contains(':', StringComparison.Ordinal) ? "[" + target.Host + "]" : target.Host;
        var path = scheme is "http" or "https" ? target.Path : "";
        var tls = target.Tls == ProbeTls.StartTls ? " (STARTTLS)" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{scheme}://{user}{host}:{target.Port}{path}{tls}");
    }

    /// <summary>
    /// Runs <paramref name="body"/> under the deadline and turns every failure of the target into an unsuccessful
    /// outcome, so a caller (the health model, a CLI loop) can probe anything without guarding it.
    /// </summary>
    internal static async Task<ProbeOutcome> RunGuardedAsync(
        string name,
        TimeSpan deadline,
        Func<ProbeRecorder, CancellationToken, Task<string>> body,
        CancellationToken ct)
    {
        var recorder = new ProbeRecorder();
        var steps = recorder.Steps;
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(deadline);
        try
        {
            var detail = await body(recorder, timeout.Token);
            return new ProbeOutcome(name, true, recorder.Latency ?? Stopwatch.GetElapsedTime(started), detail, recorder.Certificate, steps);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            var last = steps.Count == 0 ? "connect" : "after " + steps[^1];
            return Failed($"no answer within {deadline.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s ({last})");
        }
        catch (ProbeFailedException ex)
        {
            return Failed(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            var inner = ex.InnerException is SocketException socket ? socket.Message : null;
            return Failed(inner is null ? ex.Message : ex.Message + " (" + inner + ")");
        }
        catch (Exception ex)
        {
            // A probe is a measurement: an unexpected error of the client code is reported as a failed probe so
            // the health model and the CLI keep running; the type name says where to look.
            return Failed(ex.GetType().Name + ": " + ex.Message);
        }

        ProbeOutcome Failed(string detail) =>
            new(name, false, Stopwatch.GetElapsedTime(started), detail, recorder.Certificate, steps);
    }

    private static async Task<string> SmtpAsync(ProbeConnection connection, ProbeTarget target, CancellationToken ct)
    {
        var dialog = new SmtpProbeDialog(connection, target);
        await dialog.OpenAsync(ct);
        await dialog.QuitAsync(ct);
        return target.User is null ? "EHLO accepted" : "EHLO and AUTH accepted";
    }

    private static async Task<string> ImapAsync(ProbeConnection connection, ProbeTarget target, CancellationToken ct)
    {
        var dialog = new ImapProbeDialog(connection, target);
        await dialog.OpenAsync(ct);
        if (target.User is null)
        {
            await dialog.CommandAsync("LOGOUT", "LOGOUT", ct);
            return "CAPABILITY answered";
        }

        var select = await dialog.CommandAsync("SELECT INBOX", "SELECT INBOX", ct);
        var exists = select.Untagged.Select(ParseExists).FirstOrDefault(n => n is not null);
        await dialog.CommandAsync("LOGOUT", "LOGOUT", ct);
        return exists is null ? "logged in, INBOX selected" : $"logged in, INBOX selected, {exists} messages";
    }

    private static string? ParseExists(string line)
    {
        // "* 12 EXISTS" (RFC 9051 7.4.1)
        var parts = line.Split(' ');
        return parts.Length == 3 && parts[0] == "*" && parts[2].Equals("EXISTS", StringComparison.OrdinalIgnoreCase) ? parts[1] : null;
    }

    // RFC 1939 (POP3), RFC 2449 (CAPA), RFC 2595 4 (STLS).
    private static async Task<string> Pop3Async(ProbeConnection connection, ProbeTarget target, CancellationToken ct)
    {
        connection.Begin("greeting");
        var greeting = await connection.ReadLineAsync(ct);
        connection.Record("greeting", greeting);
        RequireOk("greeting", greeting);

        var capabilities = await Pop3CapaAsync(connection, ct);
        if (target.Tls == ProbeTls.StartTls)
        {
            if (!capabilities.Contains("STLS", StringComparer.OrdinalIgnoreCase))
            {
                throw new ProbeFailedException("the server does not offer STLS");
            }

            await Pop3CommandAsync(connection, "STLS", "STLS", ct);
            await connection.UpgradeToTlsAsync(ct);
            capabilities = await Pop3CapaAsync(connection, ct);
        }

        if (target.User is null)
        {
            await Pop3CommandAsync(connection, "QUIT", "QUIT", ct);
            return "CAPA answered";
        }

        connection.RequireTlsForCredentials();
        await Pop3CommandAsync(connection, "USER", "USER " + target.User, ct);
        await Pop3CommandAsync(connection, "PASS", "PASS " + (target.Password ?? ""), ct);
        var stat = await Pop3CommandAsync(connection, "STAT", "STAT", ct);
        await Pop3CommandAsync(connection, "QUIT", "QUIT", ct);
        var count = stat.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
        return count is null ? "USER/PASS and STAT accepted" : $"USER/PASS and STAT accepted, {count} messages";
    }

    private static async Task<IReadOnlyList<string>> Pop3CapaAsync(ProbeConnection connection, CancellationToken ct)
    {
        connection.Begin("CAPA");
        await connection.WriteLineAsync("CAPA", ct);
        var first = await connection.ReadLineAsync(ct);
        if (!first.StartsWith("+OK", StringComparison.OrdinalIgnoreCase))
        {
            // CAPA is optional (RFC 2449 5); a server without it still passes.
            connection.Record("CAPA", first);
            return [];
        }

        var lines = new List<string>();
        for (var i = 0; i < ProbeLimits.MaxReplyLines; i++)
        {
            var line = await connection.ReadLineAsync(ct);
            if (line == ".")
            {
                connection.Record("CAPA", string.Join(' ', lines));
                return lines.Select(l => l.Split(' ')[0]).ToList();
            }

            lines.Add(line.StartsWith('.') ? line[1..] : line);
        }

        throw new ProbeFailedException($"CAPA: more than {ProbeLimits.MaxReplyLines} lines");
    }

    private static async Task<string> Pop3CommandAsync(ProbeConnection connection, string step, string command, CancellationToken ct)
    {
        connection.Begin(step);
        await connection.WriteLineAsync(command, ct);
        var reply = await connection.ReadLineAsync(ct);
        connection.Record(step, reply);
        RequireOk(step, reply);
        return reply;
    }

    private static void RequireOk(string step, string reply)
    {
        if (!reply.StartsWith("+OK", StringComparison.OrdinalIgnoreCase))
        {
            throw new ProbeFailedException($"{step} refused: {SmtpProbeDialog.Clip(reply)}");
        }
    }

    // RFC 9112: one GET with Connection: close; only the status line matters.
    private static async Task<string> HttpAsync(ProbeConnection connection, ProbeTarget target, CancellationToken ct)
    {
        var path = string.IsNullOrEmpty(target.Path) ? "/" : target.Path;
        if (!path.StartsWith('/'))
        {
            path = "/" + path;
        }

        var host = target.Host.Contains(':', StringComparison.Ordinal) ? "[" + target.Host + "]" : target.Host;
        var defaultPort = target.Tls == ProbeTls.Implicit ? 443 : 80;
        var hostHeader = target.Port == defaultPort ? host : host + ":" + target.Port.ToString(CultureInfo.InvariantCulture);
        var request = $"GET {path} HTTP/1.1\r\nHost: {hostHeader}\r\nUser-Agent: rempart-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n";
        if (path.Contains('\r', StringComparison.Ordinal) || path.Contains('\n', StringComparison.Ordinal) || path.Contains(' ', StringComparison.Ordinal))
        {
            throw new ProbeFailedException("the path must not contain spaces or line breaks");
        }

        connection.Begin("GET " + path);
        await connection.WriteRawAsync(Encoding.ASCII.GetBytes(request), ct);
        var statusLine = await connection.ReadLineAsync(ct);
        connection.Record("GET " + path, statusLine);
        var status = ParseHttpStatus(statusLine)
            ?? throw new ProbeFailedException("not an HTTP reply: " + SmtpProbeDialog.Clip(statusLine));
        var ok = target.ExpectStatus is { } expected ? status == expected : status is >= 200 and < 400;
        if (!ok)
        {
            var wanted = target.ExpectStatus is { } e ? e.ToString(CultureInfo.InvariantCulture) : "2xx or 3xx";
            throw new ProbeFailedException($"GET {path} answered {statusLine.Trim()} (expected {wanted})");
        }

        return "GET " + path + " answered " + status.ToString(CultureInfo.InvariantCulture);
    }

    internal static int? ParseHttpStatus(string line)
    {
        // "HTTP/1.1 200 OK"
        if (!line.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            return null;
        }

        var parts = line.Split(' ', 3);
        return parts.Length >= 2 && parts[1].Length == 3
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : null;
    }
}
