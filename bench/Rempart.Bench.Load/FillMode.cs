using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Rempart.Bench.Load;

/// <summary>
/// Tops K mailboxes up to N messages each, by LMTP (Dovecot), SMTP (Rempart's MX listener) or pipelined APPEND,
/// then waits until IMAP shows them all. Not measured; it prepares the imap and search modes.
/// </summary>
internal static class FillMode
{
    public static async Task RunAsync(Options o, CancellationToken ct)
    {
        var target = Target.From(o);
        var via = o.Str("via", "smtp");
        var perMailbox = o.Int("per-mailbox", 100);
        var width = o.Int("connections", 4);
        var size = o.Int("size", 4096);
        var rareEvery = o.Int("rare-every", 1000);
        var visibleTimeout = TimeSpan.FromSeconds(o.Int("visible-timeout-s", 900));
        var targetText = o.Maybe("target");
        var endpoint = via is "append" or "maildir" ? target.Imap : System.Net.IPEndPoint.Parse(targetText ?? throw new ArgumentException("--target is required with --via " + via));
        var k = target.Mailboxes;
        var maildir = o.Maybe("maildir");

        var have = new int[k];
        await Parallel2.ForAsync(k, 8, async i =>
        {
            await using var c = await target.LoginAsync(i, ct);
            have[i] = await c.StatusMessagesAsync("INBOX", target.OpTimeout, ct);
        });

        var jobs = new ConcurrentQueue<(int Mailbox, long Seq)>();
        for (var n = 0; n < perMailbox; n++)
        {
            for (var i = 0; i < k; i++)
            {
                if (n >= have[i])
                {
                    jobs.Enqueue((i, (long)i * 1_000_000 + n));
                }
            }
        }

        var total = jobs.Count;
        Console.WriteLine($"fill: {total} messages to add via {via} ({k} mailboxes, {perMailbox} each)");
        if (total == 0)
        {
            return;
        }

        var sw = Stopwatch.StartNew();
        if (via == "maildir")
        {
            // Dovecot only: message files written straight into Maildir/new (one mailbox), picked up on the next
            // sync. Much faster than LMTP for the 50,000-message search mailbox; the search itself reads the same files.
            var dir = maildir ?? throw new ArgumentException("--maildir is required with --via maildir");
            foreach (var sub in new[] { "tmp", "new", "cur" })
            {
                Directory.CreateDirectory(Path.Combine(dir, sub));
            }

            while (jobs.TryDequeue(out var job))
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"{1764000000 + job.Seq}.M{job.Seq}P1.bench");
                var tmp = Path.Combine(dir, "tmp", name);
                await File.WriteAllBytesAsync(tmp, Corpus.Message(job.Seq, target.User(job.Mailbox), size, job.Seq % rareEvery == rareEvery / 2), ct);
                File.Move(tmp, Path.Combine(dir, "new", name));
            }
        }
        else if (via == "append")
        {
            // One session per mailbox at a time; pipelined APPENDs with LITERAL+ when offered.
            await Parallel2.ForAsync(k, width, async i =>
            {
                var mine = jobs.Where(j => j.Mailbox == i).Select(j => j.Seq).ToList();
                if (mine.Count == 0)
                {
                    return;
                }

                await using var c = await target.LoginAsync(i, ct);
                var caps = await c.CommandAsync("CAPABILITY", target.OpTimeout, ct);
                var literalPlus = caps.Untagged.Any(l => l.Contains("LITERAL+", StringComparison.OrdinalIgnoreCase));
                foreach (var batch in mine.Chunk(100))
                {
                    var msgs = batch.Select(seq => Corpus.Message(seq, target.User(i), size, seq % rareEvery == rareEvery / 2)).ToList();
                    if (literalPlus)
                    {
                        await c.AppendPipelinedAsync("INBOX", msgs, target.OpTimeout, ct);
                    }
                    else
                    {
                        foreach (var m in msgs)
                        {
                            (await c.AppendAsync("INBOX", m, target.OpTimeout, ct)).EnsureOk("APPEND");
                        }
                    }
                }
            });
        }
        else
        {
            var lmtp = via == "lmtp";
            await Task.WhenAll(Enumerable.Range(0, width).Select(async _ =>
            {
                await using var c = await SmtpClient.ConnectAsync(endpoint, lmtp, target.OpTimeout, ct);
                while (jobs.TryDequeue(out var job))
                {
                    var to = target.User(job.Mailbox);
                    await c.SendAsync("filler@bench.test", to, Corpus.Message(job.Seq, to, size, job.Seq % rareEvery == rareEvery / 2), target.OpTimeout, ct);
                }

                await c.QuitAsync(target.OpTimeout, ct);
            }));
        }

        Console.WriteLine($"fill: sent {total} in {sw.Elapsed.TotalSeconds:0.0} s; waiting until IMAP shows them");
        var deadline = Stopwatch.GetTimestamp() + (long)(visibleTimeout.TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; i < k; i++)
        {
            await using var c = await target.LoginAsync(i, ct);
            var want = Math.Max(perMailbox, have[i]);
            int n;
            while ((n = await c.StatusMessagesAsync("INBOX", target.OpTimeout, ct)) < want)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"{target.User(i)} holds {n} of {want} messages after {visibleTimeout.TotalSeconds:0} s");
                }

                await Task.Delay(200, ct);
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fill: done in {sw.Elapsed.TotalSeconds:0.0} s"));
    }
}
