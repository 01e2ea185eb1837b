using System.Globalization;

namespace Rempart.Bench.Load;

/// <summary>
/// Memory of a process and all its descendants from /proc: VmRSS summed (what the brief asks; it counts shared
/// library pages once per process) and Pss summed (shared pages divided among the processes sharing them).
/// </summary>
internal static class ProcTree
{
    public sealed record Sample(long RssKib, long PssKib, int Processes);

    public static Sample Measure(int rootPid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ppid = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (!children.TryGetValue(ppid, out var list))
                {
                    children[ppid] = list = [];
                }

                list.Add(pid);
            }
            catch (IOException)
            {
                // The process exited while we looked.
            }
        }

        long rss = 0, pss = 0;
        var count = 0;
        var todo = new Stack<int>();
        todo.Push(rootPid);
        while (todo.Count > 0 && count < 100_000)
        {
            var pid = todo.Pop();
            count++;
            rss += ReadKib($"/proc/{pid}/status", "VmRSS:");
            pss += ReadKib($"/proc/{pid}/smaps_rollup", "Pss:");
            if (children.TryGetValue(pid, out var kids))
            {
                foreach (var k in kids)
                {
                    todo.Push(k);
                }
            }
        }

        return new Sample(rss, pss, count);
    }

    private static long ReadKib(string path, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    var v = line[key.Length..].Trim();
                    var sp = v.IndexOf(' ', StringComparison.Ordinal);
                    return long.Parse(sp < 0 ? v : v[..sp], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return 0;
    }
}
