using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Rempart.Antispam;
using Rempart.Server;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart spam train|status|test</c>: the anti-spam classifier (docs/protection/antispam.md).</summary>
internal static class SpamCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var spam = new Command("spam", "Anti-spam classifier: train, status, test (docs/protection/antispam.md)");
        spam.Subcommands.Add(Train(io, globals));
        spam.Subcommands.Add(Status(io, globals));
        spam.Subcommands.Add(Test(io, globals));
        return spam;
    }

    private static Command Train(CliIo io, GlobalOptions globals)
    {
        var spamSource = new Option<string[]>("--spam") { Description = "Spam: a folder of message files or an mbox file (repeatable)", HelpName = "DIR|MBOX", AllowMultipleArgumentsPerToken = false };
        var hamSource = new Option<string[]>("--ham") { Description = "Ham (wanted mail): a folder of message files or an mbox file (repeatable)", HelpName = "DIR|MBOX", AllowMultipleArgumentsPerToken = false };
        var command = new Command("train", "Teach the global model from spam and ham examples (a running server picks it up at restart)") { spamSource, hamSource };
        CliAction.Set(command, io, globals, (ctx, ct) =>
        {
            var spamPaths = ctx.Parse.GetValue(spamSource) ?? [];
            var hamPaths = ctx.Parse.GetValue(hamSource) ?? [];
            if (spamPaths.Length == 0 && hamPaths.Length == 0)
            {
                throw CliException.Usage("nothing to learn: give --spam DIR|MBOX and/or --ham DIR|MBOX");
            }

            foreach (var p in spamPaths.Concat(hamPaths))
            {
                if (!File.Exists(p) && !Directory.Exists(p))
                {
                    throw CliException.Usage($"no such file or folder: {p}");
                }
            }

            var options = ctx.Options.Protection.Spam;
            var folder = ModelFolder(ctx, create: true);
            using var engine = new SpamEngine(options, folder, null, NullLogger.Instance);

            // Interleave spam and ham so that an interrupted run still leaves a balanced model.
            void Pass(Action<byte[], bool> learn)
            {
                using var spams = spamPaths.SelectMany(p => MailCorpus.Read(p, options.MaxLearnBytes)).GetEnumerator();
                using var hams = hamPaths.SelectMany(p => MailCorpus.Read(p, options.MaxLearnBytes)).GetEnumerator();
                bool moreSpam = true, moreHam = true;
                while (moreSpam || moreHam)
                {
                    ct.ThrowIfCancellationRequested();
                    if (moreSpam && (moreSpam = spams.MoveNext()))
                    {
                        learn(spams.Current, true);
                    }

                    if (moreHam && (moreHam = hams.MoveNext()))
                    {
                        learn(hams.Current, false);
                    }
                }
            }

            long spamCount = 0, hamCount = 0, skipped = 0;
            Pass((raw, isSpam) => _ = engine.Learn(raw, isSpam, accountId: null) ? (isSpam ? spamCount++ : hamCount++) : skipped++);
            engine.SaveAll();

            // The logistic model's further passes over the same messages (SpamEngine.LogisticTrainingPasses).
            for (var pass = 1; pass < SpamEngine.LogisticTrainingPasses && spamCount + hamCount > 0; pass++)
            {
                Pass((raw, isSpam) => engine.LearnLogistic(raw, isSpam));
            }

            engine.SaveAll();
            var status = engine.GetStatus();
            io.Line($"Learned {spamCount} spam and {hamCount} ham ({skipped} skipped: already learned or not a message).");
            io.Line($"Global model: {status.GlobalSpam} spam, {status.GlobalHam} ham, {status.GlobalTokens} tokens, in {folder}.");
            if (!status.BayesActive)
            {
                io.Hint($"The classifier is used once it has learned {status.MinMessagesForBayes} spam and {status.MinMessagesForBayes} ham.");
            }

            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static Command Status(CliIo io, GlobalOptions globals)
    {
        var command = new Command("status", "Show the size of the models and how many messages they learned");
        CliAction.Set(command, io, globals, (ctx, ct) =>
        {
            var folder = ModelFolder(ctx, create: false);
            using var engine = new SpamEngine(ctx.Options.Protection.Spam, folder, null, NullLogger.Instance);
            var s = engine.GetStatus();
            io.KeyValues(
            [
                ("Model folder", folder),
                ("Spam learned", s.GlobalSpam.ToString(CultureInfo.InvariantCulture)),
                ("Ham learned", s.GlobalHam.ToString(CultureInfo.InvariantCulture)),
                ("Tokens", s.GlobalTokens.ToString(CultureInfo.InvariantCulture)),
                ("Model file bytes", s.GlobalFileBytes.ToString(CultureInfo.InvariantCulture)),
                ("Logistic coefficients", s.LogisticCoefficients.ToString(CultureInfo.InvariantCulture)),
                ("Logistic file bytes", s.LogisticFileBytes.ToString(CultureInfo.InvariantCulture)),
                ("User models", s.UserModels.ToString(CultureInfo.InvariantCulture)),
                ("Bayes", s.BayesActive ? "active" : $"inactive (needs {s.MinMessagesForBayes} spam and {s.MinMessagesForBayes} ham)"),
            ]);
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static Command Test(CliIo io, GlobalOptions globals)
    {
        var file = new Argument<string>("FILE") { Description = "A message file (.eml)" };
        var command = new Command("test", "Score one message: prints the score, the SCL, the action and the rules that matched") { file };
        CliAction.Set(command, io, globals, (ctx, ct) =>
        {
            var path = ctx.Parse.GetRequiredValue(file);
            if (!File.Exists(path))
            {
                throw CliException.Usage($"no such file: {path}");
            }

            var raw = File.ReadAllBytes(path);
            MimeMessage message;
            try
            {
                using var stream = new MemoryStream(raw, writable: false);
                message = MimeMessage.Load(stream, ct);
            }
            catch (FormatException ex)
            {
                throw CliException.Failed($"{path} is not a message: {ex.Message}");
            }

            var options = ctx.Options.Protection.Spam;
            var folder = ModelFolder(ctx, create: false);
            using var engine = new SpamEngine(options, folder, null, NullLogger.Instance);
            var a = engine.Analyze(message, raw, null);
            io.KeyValues(
            [
                ("Score", a.Score.ToString("0.0", CultureInfo.InvariantCulture)),
                ("SCL", a.Scl.ToString(CultureInfo.InvariantCulture)),
                ("Action", engine.ActionFor(a).ToString().ToLowerInvariant()),
                ("Bayes", a.BayesProbability is { } p ? p.ToString("0.000", CultureInfo.InvariantCulture) : "n/a (model too small)"),
                ("Header", SpamHeaders.HeaderName + ": " + SpamEngine.SpamHeaderValue(a)),
            ]);
            if (a.Hits.Count > 0)
            {
                io.Table(["Rule", "Score", "Description"], a.Hits.Select(h => (IReadOnlyList<string>)[h.Name, h.Score.ToString("0.0", CultureInfo.InvariantCulture), h.Description]));
            }

            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    /// <summary>DataFolder.SpamPath of --data. Read-only commands refuse a data folder that does not exist.</summary>
    private static string ModelFolder(CliContext ctx, bool create)
    {
        if (!create && !Directory.Exists(ctx.DataDir))
        {
            throw CliException.Failed($"no Rempart data in {ctx.DataDir}. Pass --data DIR to point at your data folder.");
        }

        try
        {
            return DataFolder.Open(ctx.DataDir).SpamPath;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.Failed($"cannot use data folder {ctx.DataDir}: {ex.Message}");
        }
    }
}
