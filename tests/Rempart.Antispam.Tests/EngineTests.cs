using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Store.Blobs;

namespace Rempart.Antispam.Tests;

public class EngineTests
{
    private static SpamEngine NewEngine(TempFolder folder, SpamOptions? options = null, ILogger? logger = null) =>
        new(options ?? Fixtures.Options(), folder.Path, null, logger ?? NullLogger.Instance);

    [Fact]
    public void Gtube_is_scl_9_with_an_empty_model()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        var a = Fixtures.AnalyzeFile(engine, "gtube.eml");
        Assert.True(a.Gtube);
        Assert.Equal(9, a.Scl);
        Assert.Null(a.BayesProbability);
        Assert.Equal("GTUBE", a.Hits[0].Name);
        Assert.Equal(SpamAction.Quarantine, engine.ActionFor(a));
        Assert.False(engine.ModelLoaded);
    }

    [Fact]
    public void Normal_mail_is_not_gtube_and_bayes_stays_off_until_the_model_is_big_enough()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        var a = Fixtures.AnalyzeFile(engine, "ham-normal.eml");
        Assert.False(a.Gtube);
        Assert.Null(a.BayesProbability);
        Assert.True(a.Scl <= 1, SpamEngine.SpamHeaderValue(a));
    }

    [Fact]
    public void Training_moves_the_score()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        var spamBefore = Fixtures.AnalyzeFile(engine, "spam-obvious.eml");
        var hamBefore = Fixtures.AnalyzeFile(engine, "ham-normal.eml");
        Fixtures.Train(engine);
        Assert.Equal(60, engine.GlobalMessagesLearned);
        var spamAfter = Fixtures.AnalyzeFile(engine, "spam-obvious.eml");
        var hamAfter = Fixtures.AnalyzeFile(engine, "ham-normal.eml");
        Assert.True(spamAfter.Score > spamBefore.Score + 2, $"{spamBefore.Score} -> {spamAfter.Score}");
        Assert.True(hamAfter.Score < hamBefore.Score, $"{hamBefore.Score} -> {hamAfter.Score}");
        Assert.True(spamAfter.BayesProbability > 0.9, SpamEngine.SpamHeaderValue(spamAfter));
        Assert.True(hamAfter.BayesProbability < 0.1, SpamEngine.SpamHeaderValue(hamAfter));
    }

    [Fact]
    public void Learning_the_same_message_twice_counts_once_and_the_opposite_verdict_replaces_the_first()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        var raw = File.ReadAllBytes(Fixtures.Score("newsletter.eml"));
        Assert.True(engine.Learn(raw, isSpam: true, accountId: null));
        Assert.False(engine.Learn(raw, isSpam: true, accountId: null));
        Assert.Equal(1, engine.GetStatus().GlobalSpam);
        Assert.True(engine.Learn(raw, isSpam: false, accountId: null));
        var s = engine.GetStatus();
        Assert.Equal(0, s.GlobalSpam);
        Assert.Equal(1, s.GlobalHam);
    }

    [Fact]
    public void User_model_overrides_global_for_that_user_only()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder, Fixtures.Options(o => o.MinTokensForUserModel = 50));
        Fixtures.Train(engine);
        var before = Fixtures.AnalyzeFile(engine, "newsletter.eml", accountId: 1);
        Assert.True(before.Scl < 5, SpamEngine.SpamHeaderValue(before));

        // User 1 files this newsletter as junk, issue after issue.
        for (var i = 0; i < 6; i++)
        {
            Assert.True(engine.Learn(Fixtures.Variant("newsletter.eml", i), isSpam: true, accountId: 1));
        }

        var user1 = Fixtures.AnalyzeFile(engine, "newsletter.eml", accountId: 1);
        var user2 = Fixtures.AnalyzeFile(engine, "newsletter.eml", accountId: 2);
        var global = Fixtures.AnalyzeFile(engine, "newsletter.eml");
        Assert.True(user1.Scl >= 5, SpamEngine.SpamHeaderValue(user1));
        Assert.True(user1.BayesProbability > before.BayesProbability + 0.3, $"{before.BayesProbability} -> {user1.BayesProbability}");
        Assert.Equal(before.Scl, user2.Scl);
        Assert.Equal(before.BayesProbability, user2.BayesProbability);
        Assert.Equal(global.BayesProbability, user2.BayesProbability);
        Assert.Equal(60, engine.GlobalMessagesLearned);
    }

    [Fact]
    public void Personal_model_is_reported_only_when_it_would_be_consulted()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder, Fixtures.Options(o => o.MinTokensForUserModel = 50));
        Assert.False(engine.UsesPersonalModel(1));

        // A user model without a trained global model: the classifier does not run at all.
        for (var i = 0; i < 6; i++)
        {
            Assert.True(engine.Learn(Fixtures.Variant("newsletter.eml", i), isSpam: true, accountId: 1));
        }

        Assert.False(engine.UsesPersonalModel(1));
        Fixtures.Train(engine);
        Assert.True(engine.UsesPersonalModel(1));
        Assert.False(engine.UsesPersonalModel(2));
    }

    [Fact]
    public void User_model_below_the_token_minimum_is_not_consulted()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder, Fixtures.Options(o => o.MinTokensForUserModel = 1_000_000));
        Fixtures.Train(engine);
        var before = Fixtures.AnalyzeFile(engine, "newsletter.eml", accountId: 1);
        Assert.True(engine.Learn(Fixtures.Variant("newsletter.eml", 1), isSpam: true, accountId: 1));
        Assert.Equal(before.BayesProbability, Fixtures.AnalyzeFile(engine, "newsletter.eml", accountId: 1).BayesProbability);
    }

    [Fact]
    public async Task Model_round_trips_through_save_and_load()
    {
        using var folder = new TempFolder();
        double? probability;
        using (var engine = NewEngine(folder))
        {
            Fixtures.Train(engine);
            await engine.LearnAsync(Fixtures.Variant("newsletter.eml", 1), isSpam: true, accountId: 42, CancellationToken.None);
            probability = Fixtures.AnalyzeFile(engine, "spam-obvious.eml").BayesProbability;
        }

        Assert.True(File.Exists(Path.Combine(folder.Path, "global.bayes")));
        Assert.True(File.Exists(Path.Combine(folder.Path, "users", "42.bayes")));
        Assert.Empty(Directory.GetFiles(folder.Path, "*.tmp", SearchOption.AllDirectories));
        using var reloaded = NewEngine(folder);
        Assert.True(reloaded.ModelLoaded);
        Assert.Equal(60, reloaded.GlobalMessagesLearned);
        Assert.Equal(probability, Fixtures.AnalyzeFile(reloaded, "spam-obvious.eml").BayesProbability);
        Assert.Equal(1, reloaded.GetStatus().UserModels);

        // The remembered ids survive too: a repeat is still recognised after the restart.
        Assert.False(reloaded.Learn(File.ReadAllBytes(Path.Combine(Fixtures.SpamFolder, "spam00.eml")), isSpam: true, accountId: null));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("flipped")]
    public void Corrupt_model_file_starts_empty_with_a_log_and_no_crash(string damage)
    {
        using var folder = new TempFolder();
        Fixtures.TrainThenDamage(() => NewEngine(folder), Path.Combine(folder.Path, "global.bayes"), damage);
        var logger = new ListLogger();
        using (var engine = NewEngine(folder, logger: logger))
        {
            Assert.False(engine.ModelLoaded);
            Assert.Equal(0, engine.GlobalMessagesLearned);
            Assert.Contains(logger.Entries, e => e.Level == LogLevel.Error && e.Text.Contains("unreadable", StringComparison.Ordinal));
            Assert.Single(Directory.GetFiles(folder.Path, "global.bayes.corrupt-*"));

            // Still works: scores, learns and saves a fresh model.
            Assert.Equal(9, Fixtures.AnalyzeFile(engine, "gtube.eml").Scl);
            Assert.True(engine.Learn(File.ReadAllBytes(Fixtures.Score("ham-normal.eml")), isSpam: false, accountId: null));
        }

        using var again = NewEngine(folder);
        Assert.True(again.ModelLoaded);
        Assert.Equal(1, again.GlobalMessagesLearned);
    }

    [Fact]
    public void Huge_message_is_analysed_with_bounded_work()
    {
        using var folder = new TempFolder();
        var options = Fixtures.Options();
        using var engine = NewEngine(folder, options);
        Fixtures.Train(engine);

        // 10 MB: a huge text part of distinct words, many text parts, and GTUBE at the very end of the raw bytes.
        var sb = new StringBuilder("From: a@partner.example\r\nTo: alice@example.com\r\nSubject: big\r\nDate: Tue, 3 Nov 2026 09:00:00 +0000\r\nMessage-ID: <big@partner.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n");
        sb.Append("--x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
        for (var i = 0; sb.Length < 9_000_000; i++)
        {
            sb.Append("word").Append(i).Append(i % 12 == 0 ? "\r\n" : " ");
        }

        for (var p = 0; p < 200; p++)
        {
            sb.Append("\r\n--x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>part ").Append(p).Append(" <a href=\"http://h").Append(p).Append(".example/\">link</a></p>");
        }

        sb.Append("\r\n--x--\r\n");
        while (sb.Length < 10 * 1024 * 1024)
        {
            sb.Append("padding padding padding padding\r\n");
        }

        sb.Append(SpamRules.GtubeString).Append("\r\n");
        var raw = Encoding.ASCII.GetBytes(sb.ToString());
        Assert.True(raw.Length >= 10 * 1024 * 1024);
        var message = Fixtures.Parse(raw);

        var content = MessageContent.Extract(message, options.MaxParts, options.MaxBytesPerPart);
        Assert.True(content.BytesExamined <= (long)options.MaxParts * options.MaxBytesPerPart, content.BytesExamined.ToString());
        Assert.True(content.Texts.Count <= options.MaxParts);
        Assert.True(content.Urls.Count <= MessageContent.MaxUrls);

        var a = engine.Analyze(message, content, raw, null, out var tokens);
        Assert.InRange(tokens, 1, Tokenizer.MaxTokensPerMessage);
        Assert.True(a.Gtube);
        Assert.Equal(9, a.Scl);

        // Learning reads only the head of the message.
        Assert.True(engine.Learn(raw, isSpam: false, accountId: null));
    }

    [Fact]
    public void An_untrained_engine_does_no_statistical_work_and_a_trained_one_does()
    {
        using var folder = new TempFolder();
        var options = Fixtures.Options();
        using var engine = NewEngine(folder, options);
        var raw = Encoding.ASCII.GetBytes("From: a@partner.example\r\nTo: alice@example.com\r\nSubject: quarterly figures\r\nDate: Tue, 3 Nov 2026 09:00:00 +0000\r\nMessage-ID: <q@partner.example>\r\n\r\nThe quarterly figures are attached, see you on Monday.\r\n");
        var message = Fixtures.Parse(raw);
        var content = MessageContent.Extract(message, options.MaxParts, options.MaxBytesPerPart);

        var untrained = engine.Analyze(message, content, raw, null, out var before);
        Assert.Equal(0, before);
        Assert.Null(untrained.BayesProbability);
        Assert.DoesNotContain(untrained.Hits, h => h.Name.StartsWith("BAYES", StringComparison.Ordinal) || h.Name == "LOGISTIC");

        Fixtures.Train(engine);
        var trained = engine.Analyze(message, content, raw, null, out var after);
        Assert.True(after > 0);
        Assert.NotNull(trained.BayesProbability);
    }

    [Fact]
    public void Junk_rules_hit_on_crafted_messages()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        var raw = Encoding.UTF8.GetBytes(
            "From: \"Paypal <service@paypal.example>\" <x@evil.example>\r\nSubject: hello\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
            + "<p>Hi <span style=\"display:none\">lorem ipsum dolor sit amet consectetur adipiscing</span></p><img src=\"http://bit.ly/a\"><a href=\"http://[2001:db8::1]/x\">go</a>\r\n");
        var names = Fixtures.Analyze(engine, raw).Hits.Select(h => h.Name).ToHashSet();
        foreach (var expected in new[] { "MISSING_DATE", "MISSING_MID", "HTML_ONLY_LITTLE_TEXT", "HTML_INVISIBLE_TEXT", "URL_IP_LITERAL", "FROM_NAME_HAS_ADDRESS", "TO_UNDISCLOSED" })
        {
            Assert.Contains(expected, names);
        }

        Assert.DoesNotContain("LINK_HOST_MISMATCH", names);
    }

    [Fact]
    public void Eight_bit_text_declared_ascii_hits_charset_mismatch()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        var head = Encoding.ASCII.GetBytes("From: a@b.example\r\nTo: c@d.example\r\nSubject: x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
        var body = Enumerable.Range(0, 400).Select(i => (byte)(0xC0 + (i % 30))).ToArray();
        var raw = head.Concat(body).ToArray();
        Assert.Contains(Fixtures.Analyze(engine, raw).Hits, h => h.Name == "CHARSET_MISMATCH");
    }

    [Fact]
    public void Header_value_lists_scl_score_bayes_and_rules()
    {
        var a = new SpamAnalysis(8.34, 8, false, 0.991, [new("BAYES_99", 5, "x"), new("SUBJ_ALL_CAPS", 1.3, "y")]);
        Assert.Equal("scl=8; score=8.3; bayes=0.99; rules=BAYES_99,SUBJ_ALL_CAPS", SpamEngine.SpamHeaderValue(a));
        Assert.Equal("scl=-1; score=0.0; rules=", SpamEngine.SpamHeaderValue(SpamAnalysis.Bypass));
    }

    // The bands chosen by cross-validation (docs/protection/antispam.md): 99% and up junks alone at the default SCL 5,
    // 95-99% with half a point of rules more, 80-95% with 2.5 points more; below 40% counts for ham.
    [Theory]
    [InlineData(0.9995, "BAYES_999", 0.0, 7)]
    [InlineData(0.995, "BAYES_99", 0.0, 5)]
    [InlineData(0.97, "BAYES_95", 0.0, 4)]
    [InlineData(0.97, "BAYES_95", 0.5, 5)]
    [InlineData(0.90, "BAYES_80", 2.4, 4)]
    [InlineData(0.90, "BAYES_80", 2.5, 5)]
    [InlineData(0.70, "BAYES_60", 3.9, 4)]
    [InlineData(0.10, "BAYES_05", 6.0, 4)]
    public void Bayes_band_and_rule_points_give_the_scl(double probability, string band, double rulePoints, int scl)
    {
        var hit = SpamEngine.BayesHit(probability);
        Assert.NotNull(hit);
        Assert.Equal(band, hit.Name);
        Assert.Equal(scl, SpamEngine.SclOf(hit.Score + rulePoints));
    }

    [Fact]
    public void Bayes_without_an_opinion_adds_no_points() => Assert.Null(SpamEngine.BayesHit(0.5));

    [Theory]
    [InlineData(-3.0, 0)]
    [InlineData(0.9, 0)]
    [InlineData(5.0, 5)]
    [InlineData(7.99, 7)]
    [InlineData(42, 9)]
    public void Score_maps_to_scl(double score, int scl) => Assert.Equal(scl, SpamEngine.SclOf(score));

    [Fact]
    public void Thresholds_decide_the_action()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder, Fixtures.Options(o => { o.JunkAtScl = 4; o.QuarantineAtScl = 7; o.RejectAtScl = 9; }));
        SpamAnalysis At(int scl) => new(scl, scl, false, null, []);
        Assert.Equal(SpamAction.Deliver, engine.ActionFor(SpamAnalysis.Bypass));
        Assert.Equal(SpamAction.Deliver, engine.ActionFor(At(3)));
        Assert.Equal(SpamAction.Junk, engine.ActionFor(At(4)));
        Assert.Equal(SpamAction.Quarantine, engine.ActionFor(At(8)));
        Assert.Equal(SpamAction.Reject, engine.ActionFor(At(9)));
    }

    [Fact]
    public void Disabled_engine_bypasses_even_gtube()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder, Fixtures.Options(o => o.Enabled = false));
        Assert.Equal(-1, Fixtures.AnalyzeFile(engine, "gtube.eml").Scl);
    }

    [Fact]
    public void Options_validation_names_the_bad_keys()
    {
        var o = new SpamOptions { JunkAtScl = 0, QuarantineAtScl = 3, RejectAtScl = 12, MinMessagesForBayes = 0 };
        var errors = o.Validate("protection.spam").ToList();
        Assert.Contains(errors, e => e.StartsWith("'protection.spam.junkAtScl':", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'protection.spam.rejectAtScl':", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'protection.spam.minMessagesForBayes':", StringComparison.Ordinal));
        Assert.Empty(new SpamOptions().Validate("protection.spam"));
        Assert.Contains(new SpamOptions { JunkAtScl = 6, QuarantineAtScl = 5 }.Validate("p"), e => e.StartsWith("'p.quarantineAtScl':", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Junk_feedback_is_queued_and_learned_into_the_user_model()
    {
        using var folder = new TempFolder();
        var blobs = new FileBlobStore(Path.Combine(folder.Path, "blobs"), 3);
        var hashes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            hashes.Add((await blobs.PutAsync(Fixtures.Variant("newsletter.eml", i))).Hash);
        }

        var models = Path.Combine(folder.Path, "spam");
        using var engine = new SpamEngine(Fixtures.Options(), models, blobs, NullLogger.Instance);
        await engine.OnJunkClassifiedAsync(7, hashes, isJunk: true, CancellationToken.None);
        Assert.True(await engine.WaitForFeedbackAsync(TimeSpan.FromSeconds(30)));
        Assert.True(File.Exists(Path.Combine(models, "users", "7.bayes")));
        Assert.Equal(0, engine.GlobalMessagesLearned);

        // Moved back out of Junk: the same messages become ham for that user (unlearned as spam first).
        await engine.OnJunkClassifiedAsync(7, hashes[..1], isJunk: false, CancellationToken.None);
        Assert.True(await engine.WaitForFeedbackAsync(TimeSpan.FromSeconds(30)));
        using var reloaded = new SpamEngine(Fixtures.Options(), models, blobs, NullLogger.Instance);
        Assert.False(reloaded.Learn(Fixtures.Variant("newsletter.eml", 0), isSpam: false, accountId: 7));
        Assert.False(reloaded.Learn(Fixtures.Variant("newsletter.eml", 1), isSpam: true, accountId: 7));
    }

    [Fact]
    public void A_running_engine_takes_a_training_made_by_another_process_and_never_overwrites_it()
    {
        using var folder = new TempFolder();
        var models = Path.Combine(folder.Path, "spam");
        var global = Path.Combine(models, "global.bayes");
        using var server = new SpamEngine(Fixtures.Options(), models, null, NullLogger.Instance);
        Assert.Equal(0, server.GlobalMessagesLearned);
        Assert.False(server.ReloadGlobalIfChanged());

        // `rempart spam train` while the server runs: its own engine over the same folder.
        long trained;
        using (var cli = new SpamEngine(Fixtures.Options(), models, null, NullLogger.Instance))
        {
            Fixtures.Train(cli);
            cli.SaveAll();
            trained = cli.GlobalMessagesLearned;
        }

        Assert.True(trained > 0);
        var written = File.ReadAllBytes(global);

        // The server learned something globally meanwhile (junkMovesTrainGlobal), not saved yet: its save must not
        // replace the newer training with its own older copy.
        Assert.True(server.Learn(Fixtures.Variant("newsletter.eml", 50), isSpam: true, accountId: null));
        server.SaveAll();
        Assert.Equal(written, File.ReadAllBytes(global));
        Assert.Equal(trained, server.GlobalMessagesLearned);
        Assert.False(server.ReloadGlobalIfChanged());

        // From now on its own changes are saved over the file it took.
        Assert.True(server.Learn(Fixtures.Variant("newsletter.eml", 51), isSpam: true, accountId: null));
        server.SaveAll();
        Assert.NotEqual(written, File.ReadAllBytes(global));
        using var restarted = new SpamEngine(Fixtures.Options(), models, null, NullLogger.Instance);
        Assert.Equal(trained + 1, restarted.GlobalMessagesLearned);
    }

    [Fact]
    public async Task Junk_feedback_for_a_missing_blob_is_logged_not_thrown()
    {
        using var folder = new TempFolder();
        var blobs = new FileBlobStore(Path.Combine(folder.Path, "blobs"), 3);
        var logger = new ListLogger();
        using var engine = new SpamEngine(Fixtures.Options(), Path.Combine(folder.Path, "spam"), blobs, logger);
        await engine.OnJunkClassifiedAsync(7, [new string('a', 64)], isJunk: true, CancellationToken.None);
        Assert.True(await engine.WaitForFeedbackAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task Junk_feedback_is_ignored_when_learning_from_moves_is_off()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder, Fixtures.Options(o => o.LearnFromJunkMoves = false));
        await engine.OnJunkClassifiedAsync(7, ["x"], isJunk: true, CancellationToken.None);
        Assert.True(await engine.WaitForFeedbackAsync(TimeSpan.FromSeconds(5)));
        Assert.False(Directory.Exists(Path.Combine(folder.Path, "users")));
    }

    [Fact]
    public void Mbox_is_split_on_from_lines_and_unquoted()
    {
        using var folder = new TempFolder();
        var mbox = Path.Combine(folder.Path, "box.mbox");
        File.WriteAllText(mbox, "From a@b Mon Nov  2 10:00:00 2026\nSubject: one\n\n>From the start\nbody\n\nFrom c@d Mon Nov  2 10:00:00 2026\nSubject: two\n\nx\n");
        var messages = MailCorpus.Read(mbox, 1 << 20).Select(Encoding.ASCII.GetString).ToList();
        Assert.Equal(2, messages.Count);
        Assert.Equal("Subject: one\n\nFrom the start\nbody\n\n", messages[0]);
        Assert.StartsWith("Subject: two", messages[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Garbage_is_not_learned_and_does_not_throw()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        _ = engine.Learn(Array.Empty<byte>(), isSpam: true, accountId: null);
        _ = engine.Learn(new byte[] { 0, 1, 2, 255, 13, 10, 13, 10 }, isSpam: true, accountId: null);
        Assert.True(engine.GlobalMessagesLearned <= 2);
    }
}
