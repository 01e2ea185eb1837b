using System.Diagnostics;
using System.Globalization;

namespace Rempart.Bench.Load;

/// <summary>
/// C sessions logged in, INBOX selected, in IDLE; memory of the server's process tree before and after, per
/// connection.
/// </summary>
internal static class IdleMode
{
    public static async Task RunAsync(Options o, RunResult result, CancellationToken ct)
    {
        var target = Target.From(o);
        var connections = o.Int("connections", 2000);
        var pid = o.Int("pid", 0);
        var width = o.Int("setup-parallel", 16);
        var settle = TimeSpan.FromSeconds(o.Double("settle-s", 5));
        if (pid <= 0 || !Directory.Exists($"/proc/{pid}"))
        {
            throw new ArgumentException("--pid must name the server's (root) process");
        }

        result.Parameters["connections"] = connections.ToString(CultureInfo.InvariantCulture);
        result.Parameters["mailboxes"] = target.Mailboxes.ToString(CultureInfo.InvariantCulture);
        await Task.Delay(settle, ct);
        var before = ProcTree.Measure(pid);
        var sessions = new ImapClient?[connections];
        var opened = 0;
        string? firstError = null;
        var t0 = Stopwatch.GetTimestamp();
        await Parallel2.ForAsync(connections, width, async c =>
        {
            try
            {
                var s = await target.LoginAsync(c % target.Mailboxes, ct);
                sessions[c] = s;
                (await s.CommandAsync("SELECT INBOX", target.OpTimeout, ct)).EnsureOk("SELECT");
                await s.IdleAsync(target.OpTimeout, ct);
                Interlocked.Increment(ref opened);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
            {
                Interlocked.CompareExchange(ref firstError, e.Message, null);
            }
        });
        var setupSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        await Task.Delay(settle, ct);
        var after = ProcTree.Measure(pid);

        foreach (var s in sessions)
        {
            if (s is not null)
            {
                await s.DisposeAsync();
            }
        }

        result.Add("idle sessions open", opened, "sessions", true);
        result.Add("setup time", setupSeconds, "s", false);
        result.Add("RSS before", before.RssKib / 1024.0, "MiB", false);
        result.Add("RSS after", after.RssKib / 1024.0, "MiB", false);
        result.Add("processes after", after.Processes, "processes", false);
        if (opened > 0)
        {
            result.Add("RSS per idle connection", (after.RssKib - before.RssKib) / (double)opened, "KiB", false, goal: 10.0);
            result.Add("PSS per idle connection", (after.PssKib - before.PssKib) / (double)opened, "KiB", false);
        }

        if (opened < connections)
        {
            result.Notes.Add($"only {opened} of {connections} sessions reached IDLE; first error: {firstError}");
        }
    }
}
