using Rempart.Bench.Load;

// Rempart.Bench.Load MODE [--option value]...
//   smtp | imap | idle | search   run one measured mode against one server, write --out FILE.json
//   fill                          top mailboxes up (not measured)
//   report                        side-by-side markdown table of two result files
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: Rempart.Bench.Load smtp|imap|idle|search|fill|report [--option value]... (see bench/run.sh)");
    return args.Length == 0 ? 2 : 0;
}

var mode = args[0];
Options options;
try
{
    options = new Options(args[1..]);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

// Every run stops by itself: a hard ceiling on the whole process.
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(options.Int("max-seconds", 1800)));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

try
{
    if (mode == "report")
    {
        var md = RunResult.Report(options.Str("mode"), options.Str("peer-name", "Postfix + Dovecot"),
            RunResult.Load(options.Maybe("rempart")), RunResult.Load(options.Maybe("peer")),
            options.Maybe("rempart-error"), options.Maybe("peer-error"));
        var outPath = options.Maybe("out");
        options.EnsureAllUsed();
        Console.WriteLine(md);
        if (outPath is not null)
        {
            File.AppendAllText(outPath, md + Environment.NewLine);
        }

        return 0;
    }

    if (mode == "fill")
    {
        var fill = FillMode.RunAsync(options, cts.Token);
        options.EnsureAllUsed();
        await fill;
        return 0;
    }

    var result = new RunResult { Mode = mode, Server = options.Str("server", "server") };
    var outFile = options.Maybe("out");
    Console.WriteLine($"== {mode} against {result.Server}");
    var run = mode switch
    {
        "smtp" => SmtpMode.RunAsync(options, result, cts.Token),
        "imap" => ImapMode.RunAsync(options, result, cts.Token),
        "idle" => IdleMode.RunAsync(options, result, cts.Token),
        "search" => SearchMode.RunAsync(options, result, cts.Token),
        _ => throw new ArgumentException($"unknown mode '{mode}'"),
    };
    options.EnsureAllUsed();
    await run;
    result.Save(outFile);
    return 0;
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}
catch (Exception e) when (e is IOException or OperationCanceledException or TimeoutException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
{
    Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
    return 1;
}
