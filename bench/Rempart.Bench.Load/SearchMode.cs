using System.Diagnostics;
using System.Globalization;

namespace Rempart.Bench.Load;

/// <summary>SEARCH BODY over one large mailbox for a rare, a common and an absent term; time per search.</summary>
internal static class SearchMode
{
    public static async Task RunAsync(Options o, RunResult result, CancellationToken ct)
    {
        var target = Target.From(o);
        var repeat = o.Int("repeat", 3);
        var expect = o.Int("expect", 0);
        var timeout = TimeSpan.FromSeconds(o.Int("search-timeout-s", 600));
        await using var s = await target.LoginAsync(0, ct);
        var sel = await s.CommandAsync("SELECT INBOX", target.OpTimeout, ct);
        sel.EnsureOk("SELECT");
        var exists = ImapMode.ParseExists(sel);
        result.Parameters["messages"] = exists.ToString(CultureInfo.InvariantCulture);
        result.Parameters["repeat"] = repeat.ToString(CultureInfo.InvariantCulture);
        if (exists < expect)
        {
            result.Notes.Add($"mailbox holds {exists} messages, {expect} expected");
        }

        foreach (var (label, term) in new[] { ("rare", Corpus.RareTerm), ("common", Corpus.CommonTerm), ("absent", Corpus.MissingTerm) })
        {
            var times = new List<double>();
            var hits = -1;
            for (var r = 0; r < repeat; r++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var reply = await s.CommandAsync("SEARCH BODY " + term, timeout, ct);
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                reply.EnsureOk("SEARCH BODY " + term);
                hits = reply.Untagged.Where(l => l.StartsWith("* SEARCH", StringComparison.OrdinalIgnoreCase))
                    .Sum(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length - 2);
            }

            var first = times[0];
            times.Sort();
            result.Add($"SEARCH BODY {label} term (median of {repeat})", times[times.Count / 2], "ms", false, goal: 10.0);
            result.Add($"SEARCH BODY {label} term (first run)", first, "ms", false);
            result.Notes.Add($"BODY {term}: {hits} hits");
        }
    }
}
