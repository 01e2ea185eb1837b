using System.Diagnostics;
using System.Globalization;

namespace Rempart.Bench.Load;

/// <summary>
/// N logged-in sessions, each on one of K pre-filled mailboxes, cycling through a fixed mix of commands with random
/// arguments for a fixed time; ops/s and p50/p99 per command.
/// </summary>
internal static class ImapMode
{
    private static readonly string[] Ops = ["FETCH envelope range", "FETCH BODY.PEEK[]", "APPEND 4 KiB", "SEARCH", "STORE +FLAGS", "NOOP"];

    public static async Task RunAsync(Options o, RunResult result, CancellationToken ct)
    {
        var target = Target.From(o);
        var connections = o.Int("connections", 10);
        var duration = TimeSpan.FromSeconds(o.Double("duration-s", 20));
        var warmup = TimeSpan.FromSeconds(o.Double("warmup-s", Math.Min(3, duration.TotalSeconds / 5)));
        var size = o.Int("size", 4096);
        result.Parameters["connections"] = connections.ToString(CultureInfo.InvariantCulture);
        result.Parameters["durationSeconds"] = duration.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        result.Parameters["warmupSeconds"] = warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        result.Parameters["mailboxes"] = target.Mailboxes.ToString(CultureInfo.InvariantCulture);

        var sessions = new ImapClient[connections];
        var exists = new int[connections];
        await Parallel2.ForAsync(connections, 8, async c =>
        {
            sessions[c] = await target.LoginAsync(c % target.Mailboxes, ct);
            var sel = await sessions[c].CommandAsync("SELECT INBOX", target.OpTimeout, ct);
            sel.EnsureOk("SELECT");
            exists[c] = ParseExists(sel);
        });
        result.Parameters["messagesPerMailboxAtStart"] = exists.Min().ToString(CultureInfo.InvariantCulture) + ".." + exists.Max().ToString(CultureInfo.InvariantCulture);

        var append = Corpus.Message(424242, target.User(0), size, plantRare: false);
        var perOp = new Latencies[connections, Ops.Length];
        var errors = 0;
        string? firstError = null;
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var end = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
        {
            var rng = new Random(1000 + c);
            var s = sessions[c];
            for (var k = 0; k < Ops.Length; k++)
            {
                perOp[c, k] = new Latencies();
            }

            var n = Math.Max(1, exists[c]);
            var i = 0;
            try
            {
                while (Stopwatch.GetTimestamp() < end && i < 10_000_000)
                {
                    var op = i % Ops.Length;
                    var command = op switch
                    {
                        0 => RangeFetch(rng, n),
                        1 => $"FETCH {rng.Next(1, n + 1)} BODY.PEEK[]",
                        3 => (i / Ops.Length % 3) switch
                        {
                            0 => "SEARCH SUBJECT " + Corpus.Words[rng.Next(200)],
                            1 => "SEARCH UNSEEN",
                            _ => $"SEARCH FROM sender{rng.Next(50)}@",
                        },
                        4 => $"STORE {rng.Next(1, n + 1)} +FLAGS (\\Seen)",
                        _ => "NOOP",
                    };
                    var t0 = Stopwatch.GetTimestamp();
                    var reply = op == 2
                        ? await s.AppendAsync("INBOX", append, target.OpTimeout, ct)
                        : await s.CommandAsync(command, target.OpTimeout, ct);
                    var t1 = Stopwatch.GetTimestamp();
                    reply.EnsureOk(op == 2 ? "APPEND" : command);
                    if (t0 >= measureFrom && t1 <= end)
                    {
                        perOp[c, op].Add(t1 - t0);
                    }

                    i++;
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref firstError, e.Message, null);
            }
        }));

        foreach (var s in sessions)
        {
            try
            {
                await s.CommandAsync("LOGOUT", TimeSpan.FromSeconds(5), ct);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
            }

            await s.DisposeAsync();
        }

        var all = new Latencies();
        var byOp = new Latencies[Ops.Length];
        for (var k = 0; k < Ops.Length; k++)
        {
            byOp[k] = new Latencies();
            for (var c = 0; c < connections; c++)
            {
                byOp[k].AddAll(perOp[c, k]);
                all.AddAll(perOp[c, k]);
            }
        }

        result.Add("ops/s (all commands)", all.Count / duration.TotalSeconds, "ops/s", true, goal: 1.5);
        result.Add("p50 (all commands)", all.PercentileMs(50), "ms", false);
        result.Add("p99 (all commands)", all.PercentileMs(99), "ms", false, goal: 1.0);
        for (var k = 0; k < Ops.Length; k++)
        {
            result.Add($"{Ops[k]} p50", byOp[k].PercentileMs(50), "ms", false);
            result.Add($"{Ops[k]} p99", byOp[k].PercentileMs(99), "ms", false);
        }

        if (errors > 0)
        {
            result.Notes.Add($"{errors} of {connections} IMAP sessions failed during the run; first error: {firstError}");
        }
    }

    private static string RangeFetch(Random rng, int n)
    {
        var len = Math.Min(n, 20);
        var from = rng.Next(1, n - len + 2);
        return $"FETCH {from}:{from + len - 1} (FLAGS ENVELOPE)";
    }

    internal static int ParseExists(ImapReply reply)
    {
        foreach (var line in reply.Untagged)
        {
            var parts = line.Split(' ');
            if (parts.Length >= 3 && parts[0] == "*" && parts[2].Equals("EXISTS", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}
