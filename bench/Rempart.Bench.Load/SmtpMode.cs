using System.Diagnostics;
using System.Globalization;

namespace Rempart.Bench.Load;

/// <summary>
/// N connections × M messages of 4 KiB over SMTP (pipelined when offered) to K mailboxes; latency of each final
/// reply; then time until every accepted message is visible over IMAP (STATUS INBOX (MESSAGES)).
/// <para>
/// Before the clock starts, every connection sends warm-up messages for <c>--warmup-s</c> seconds (default 15) and
/// the run waits until they are all visible: both servers are then measured in their steady state (caches, pooled
/// buffers, and for Rempart the JIT, which recompiles hot code for about the first 10 to 15 seconds of traffic after
/// a start), as the imap mode does with its warm-up seconds. <c>--warmup-s 0</c> measures from cold.
/// </para>
/// </summary>
internal static class SmtpMode
{
    public static async Task RunAsync(Options o, RunResult result, CancellationToken ct)
    {
        var target = Target.From(o);
        var smtp = o.Endpoint("smtp");
        var connections = o.Int("connections", 20);
        var messages = o.Int("messages", 100);
        var warmup = TimeSpan.FromSeconds(o.Double("warmup-s", 15));
        var size = o.Int("size", 4096);
        var visibleTimeout = TimeSpan.FromSeconds(o.Int("visible-timeout-s", 300));
        var samplesOut = o.Maybe("samples-out");
        var k = target.Mailboxes;
        result.Parameters["connections"] = connections.ToString(CultureInfo.InvariantCulture);
        result.Parameters["messagesPerConnection"] = messages.ToString(CultureInfo.InvariantCulture);
        result.Parameters["messageBytes"] = size.ToString(CultureInfo.InvariantCulture);
        result.Parameters["mailboxes"] = k.ToString(CultureInfo.InvariantCulture);
        result.Parameters["warmupSeconds"] = warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture);

        // IMAP sessions for the end-to-end check are opened (and logins paid) before the clock starts.
        var pollers = new ImapClient[k];
        var baseline = new int[k];
        await Parallel2.ForAsync(k, 8, async i =>
        {
            pollers[i] = await target.LoginAsync(i, ct);
            baseline[i] = await pollers[i].StatusMessagesAsync("INBOX", target.OpTimeout, ct);
        });

        if (warmup > TimeSpan.Zero)
        {
            var warmed = await WarmUpAsync(target, smtp, connections, warmup, size, pollers, baseline, visibleTimeout, ct);
            result.Parameters["warmupMessages"] = warmed.ToString(CultureInfo.InvariantCulture);
        }

        // Messages are built before the clock starts so the generator spends no CPU on them while measuring.
        var bodies = new byte[connections][][];
        var rcpt = new int[connections][];
        for (var c = 0; c < connections; c++)
        {
            bodies[c] = new byte[messages][];
            rcpt[c] = new int[messages];
            for (var m = 0; m < messages; m++)
            {
                var seq = (long)c * messages + m;
                rcpt[c][m] = (int)(seq % k);
                bodies[c][m] = Corpus.Message(seq, target.User(rcpt[c][m]), size, plantRare: false);
            }
        }

        var accepted = new int[k];
        var finals = new Latencies[connections];
        var txns = new Latencies[connections];
        var ends = new List<long>[connections];
        var errors = 0;
        string? firstError = null;
        var pipelining = false;

        // Marks on stderr let a wrapper sample the servers' CPU time for the measured phase alone.
        Console.Error.WriteLine("smtp: measuring");
        var t0 = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
        {
            finals[c] = new Latencies();
            txns[c] = new Latencies();
            ends[c] = [];
            try
            {
                await using var client = await SmtpClient.ConnectAsync(smtp, lmtp: false, target.OpTimeout, ct);
                pipelining |= client.Pipelining;
                for (var m = 0; m < messages; m++)
                {
                    var (fin, txn) = await client.SendAsync("loadgen@bench.test", target.User(rcpt[c][m]), bodies[c][m], target.OpTimeout, ct);
                    finals[c].Add(fin);
                    txns[c].Add(txn);
                    ends[c].Add(Stopwatch.GetTimestamp());
                    Interlocked.Increment(ref accepted[rcpt[c][m]]);
                }

                await client.QuitAsync(target.OpTimeout, ct);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref firstError, e.Message, null);
            }
        }));
        var tAccepted = Stopwatch.GetTimestamp();
        var total = accepted.Sum();
        var acceptSeconds = Stopwatch.GetElapsedTime(t0, tAccepted).TotalSeconds;

        // End to end: poll only after sending ended, so polling does not compete with the accept phase.
        var done = new bool[k];
        var deadline = Stopwatch.GetTimestamp() + (long)(visibleTimeout.TotalSeconds * Stopwatch.Frequency);
        var tVisible = tAccepted;
        var visible = 0;
        var passes = 0;
        while (Stopwatch.GetTimestamp() < deadline && passes < 100_000)
        {
            passes++;
            visible = 0;
            for (var i = 0; i < k; i++)
            {
                if (!done[i])
                {
                    var n = await pollers[i].StatusMessagesAsync("INBOX", target.OpTimeout, ct);
                    if (n - baseline[i] >= accepted[i])
                    {
                        done[i] = true;
                        tVisible = Stopwatch.GetTimestamp();
                    }
                    else
                    {
                        visible += Math.Max(0, n - baseline[i]);
                        continue;
                    }
                }

                visible += accepted[i];
            }

            if (done.All(d => d))
            {
                break;
            }

            await Task.Delay(50, ct);
        }

        Console.Error.WriteLine("smtp: measured");
        foreach (var p in pollers)
        {
            await p.DisposeAsync();
        }

        var all = new Latencies();
        var allTxn = new Latencies();
        foreach (var l in finals)
        {
            all.AddAll(l);
        }

        foreach (var l in txns)
        {
            allTxn.AddAll(l);
        }

        if (samplesOut is not null)
        {
            WriteSamples(samplesOut, t0, finals, txns, ends);
        }

        result.Parameters["pipelining"] = pipelining ? "yes" : "no";
        result.Add("accepted messages", total, "msgs", true);
        result.Add("accepted msgs/s", total / acceptSeconds, "msgs/s", true);
        result.Add("final reply p50", all.PercentileMs(50), "ms", false);
        result.Add("final reply p99", all.PercentileMs(99), "ms", false, goal: 1.0);
        result.Add("transaction p50", allTxn.PercentileMs(50), "ms", false);
        result.Add("transaction p99", allTxn.PercentileMs(99), "ms", false);
        if (done.All(d => d))
        {
            var e2e = Stopwatch.GetElapsedTime(t0, tVisible).TotalSeconds;
            result.Add("end-to-end delivered msgs/s", total / e2e, "msgs/s", true, goal: 3.0);
            result.Add("end-to-end time", e2e, "s", false);
        }
        else
        {
            result.Notes.Add($"only {visible} of {total} accepted messages were visible over IMAP after {visibleTimeout.TotalSeconds:0} s");
        }

        if (errors > 0)
        {
            result.Notes.Add($"{errors} of {connections} SMTP connections failed; first error: {firstError}");
        }
    }

    /// <summary>
    /// One line per message, in order of completion: ms since the clock started when its final reply came, the final
    /// reply's latency and the transaction's, in ms, and the connection. For looking at when the slow replies happen.
    /// </summary>
    private static void WriteSamples(string path, long t0, Latencies[] finals, Latencies[] txns, List<long>[] ends)
    {
        var rows = new List<(double End, double Final, double Txn, int Conn)>();
        for (var c = 0; c < ends.Length; c++)
        {
            for (var m = 0; m < ends[c].Count; m++)
            {
                rows.Add((Stopwatch.GetElapsedTime(t0, ends[c][m]).TotalMilliseconds, finals[c].Ms(m), txns[c].Ms(m), c));
            }
        }

        rows.Sort((a, b) => a.End.CompareTo(b.End));
        File.WriteAllLines(path, rows.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.End:0.000} {r.Final:0.000} {r.Txn:0.000} {r.Conn}")));
    }

    /// <summary>
    /// Sends messages on each of <paramref name="connections"/> connections for <paramref name="duration"/> (not
    /// measured), waits until all are visible, then moves each mailbox's baseline past them. Returns how many were sent.
    /// </summary>
    private static async Task<int> WarmUpAsync(Target target, System.Net.IPEndPoint smtp, int connections, TimeSpan duration, int size,
        ImapClient[] pollers, int[] baseline, TimeSpan visibleTimeout, CancellationToken ct)
    {
        const int MaxPerConnection = 100_000;
        var k = pollers.Length;
        var sent = new int[k];
        var stop = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
        {
            await using var client = await SmtpClient.ConnectAsync(smtp, lmtp: false, target.OpTimeout, ct);
            for (var m = 0; m < MaxPerConnection && Stopwatch.GetTimestamp() < stop; m++)
            {
                // Sequence numbers far from the measured ones, so no warm-up message repeats a measured one.
                var seq = 1_000_000_000L + (long)c * MaxPerConnection + m;
                var box = (int)(seq % k);
                await client.SendAsync("loadgen@bench.test", target.User(box), Corpus.Message(seq, target.User(box), size, plantRare: false), target.OpTimeout, ct);
                Interlocked.Increment(ref sent[box]);
            }

            await client.QuitAsync(target.OpTimeout, ct);
        }));

        var deadline = Stopwatch.GetTimestamp() + (long)(visibleTimeout.TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; i < k; i++)
        {
            while (true)
            {
                var n = await pollers[i].StatusMessagesAsync("INBOX", target.OpTimeout, ct);
                if (n - baseline[i] >= sent[i])
                {
                    baseline[i] = n;
                    break;
                }

                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"warm-up: mailbox {i} shows {n - baseline[i]} of {sent[i]} messages after {visibleTimeout.TotalSeconds:0} s");
                }

                await Task.Delay(50, ct);
            }
        }

        return sent.Sum();
    }
}
