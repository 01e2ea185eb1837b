using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Rempart.Antispam.Tests;

public class LogisticModelTests
{
    private static SpamEngine NewEngine(TempFolder folder, ILogger? logger = null, int minTokensForUserModel = 50) =>
        new(Fixtures.Options(o => o.MinTokensForUserModel = minTokensForUserModel), folder.Path, null, logger ?? NullLogger.Instance);

    /// <summary>Features of a synthetic message: a few of its class's buckets, a few shared ones, some noise.</summary>
    private static uint[] Synthetic(Random random, bool spam) =>
    [
        .. Enumerable.Range(0, 5).Select(_ => (uint)random.Next(spam ? 1000 : 2000, spam ? 1020 : 2020)),
        .. Enumerable.Range(0, 5).Select(_ => (uint)random.Next(3000, 3020)),
        (uint)random.Next(10_000, 1_000_000),
    ];

    /// <summary>A model that learned <paramref name="count"/> synthetic messages, spam every <paramref name="spamEvery"/>th.</summary>
    private static LogisticModel Trained(Random random, int count, int spamEvery)
    {
        var model = new LogisticModel();
        for (var i = 0; i < count; i++)
        {
            model.Update(Synthetic(random, spam: i % spamEvery == 0), isSpam: i % spamEvery == 0);
        }

        return model;
    }

    [Fact]
    public void Learning_separates_spam_from_ham()
    {
        var random = new Random(7);
        var model = Trained(random, 400, 2);

        Assert.Equal(400, model.Updates);
        for (var i = 0; i < 50; i++)
        {
            Assert.True(model.Margin(Synthetic(random, spam: true)) > 0.5);
            Assert.True(model.Margin(Synthetic(random, spam: false)) < -0.5);
        }
    }

    [Fact]
    public void A_user_model_learns_only_what_the_global_one_gets_wrong()
    {
        var random = new Random(8);
        var global = Trained(random, 400, 2);

        // A message the global model already calls spam moves the user's model less towards spam than towards ham.
        var spam = Synthetic(random, spam: true);
        var agrees = new LogisticModel();
        agrees.Update(spam, isSpam: true, otherMargin: global.Margin(spam));
        var user = new LogisticModel();
        user.Update(spam, isSpam: false, otherMargin: global.Margin(spam));
        Assert.True(Math.Abs(agrees.Margin(spam)) * 2 < Math.Abs(user.Margin(spam)), $"{agrees.Margin(spam)} vs {user.Margin(spam)}");
        for (var i = 0; i < 5; i++)
        {
            user.Update(spam, isSpam: false, otherMargin: global.Margin(spam));
        }

        Assert.True(global.Margin(spam) > 0);
        Assert.True(global.Margin(spam) + user.Margin(spam) < 0, $"{global.Margin(spam)} + {user.Margin(spam)}");
    }

    [Fact]
    public void Model_bytes_round_trip_and_damage_is_detected()
    {
        var random = new Random(9);
        var model = Trained(random, 100, 3);

        var bytes = model.Serialize();
        var copy = LogisticModel.Deserialize(bytes, LogisticSettings.Default);
        Assert.Equal(model.Updates, copy.Updates);
        Assert.Equal(model.Coefficients, copy.Coefficients);
        var probe = Synthetic(random, spam: true);
        Assert.Equal(model.Margin(probe), copy.Margin(probe));

        var flipped = (byte[])bytes.Clone();
        flipped[flipped.Length / 2] ^= 0x40;
        Assert.Throws<InvalidDataException>(() => LogisticModel.Deserialize(flipped, LogisticSettings.Default));
        Assert.Throws<InvalidDataException>(() => LogisticModel.Deserialize(bytes.AsSpan(0, bytes.Length - 12), LogisticSettings.Default));
        Assert.Throws<InvalidDataException>(() => LogisticModel.Deserialize("RSPB not this kind"u8, LogisticSettings.Default));
    }

    [Theory]
    [InlineData(-100, -2)]
    [InlineData(-8, -2)]
    [InlineData(-6, -1)]
    [InlineData(-4, 0)]
    [InlineData(0, 2)]
    [InlineData(4, 4)]
    [InlineData(8, 6)]
    [InlineData(100, 6)]
    public void Logistic_points_are_half_the_margin_above_minus_four_from_minus_two_to_six(double margin, double points) =>
        Assert.Equal(points, SpamEngine.LogisticHit(margin).Score);

    // Bayes at 99.9% and the logistic model at its most confident ham opinion: still SCL 5 (the bounds were chosen so).
    [Fact]
    public void A_certain_bayes_verdict_reaches_junk_whatever_the_logistic_model_says() =>
        Assert.Equal(5, SpamEngine.SclOf(SpamEngine.BayesHit(0.9995)!.Score + SpamEngine.LogisticHit(-1000).Score));

    [Fact]
    public void Engine_trains_scores_saves_and_reloads_the_logistic_model()
    {
        using var folder = new TempFolder();
        double spamPoints, hamPoints;
        using (var engine = NewEngine(folder))
        {
            Assert.DoesNotContain(Fixtures.AnalyzeFile(engine, "spam-obvious.eml").Hits, h => h.Name == "LOGISTIC");
            Fixtures.Train(engine);
            foreach (var m in MailCorpus.Read(Fixtures.SpamFolder, 1 << 20))
            {
                Assert.True(engine.LearnLogistic(m, isSpam: true));
            }

            spamPoints = Fixtures.AnalyzeFile(engine, "spam-obvious.eml").Hits.Single(h => h.Name == "LOGISTIC").Score;
            hamPoints = Fixtures.AnalyzeFile(engine, "ham-normal.eml").Hits.Single(h => h.Name == "LOGISTIC").Score;
            Assert.True(spamPoints > hamPoints, $"spam {spamPoints}, ham {hamPoints}");
        }

        Assert.True(File.Exists(Path.Combine(folder.Path, "global.lr")));
        using var reloaded = NewEngine(folder);
        Assert.Equal(spamPoints, Fixtures.AnalyzeFile(reloaded, "spam-obvious.eml").Hits.Single(h => h.Name == "LOGISTIC").Score);
        Assert.Equal(hamPoints, Fixtures.AnalyzeFile(reloaded, "ham-normal.eml").Hits.Single(h => h.Name == "LOGISTIC").Score);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("flipped")]
    public void Corrupt_logistic_file_is_moved_aside_and_bayes_still_scores(string damage)
    {
        using var folder = new TempFolder();
        Fixtures.TrainThenDamage(() => NewEngine(folder), Path.Combine(folder.Path, "global.lr"), damage);
        var logger = new ListLogger();
        using (var engine = NewEngine(folder, logger))
        {
            Assert.True(engine.ModelLoaded);
            Assert.Contains(logger.Entries, e => e.Level == LogLevel.Error && e.Text.Contains("global.lr", StringComparison.Ordinal));
            Assert.Single(Directory.GetFiles(folder.Path, "global.lr.corrupt-*"));
            var a = Fixtures.AnalyzeFile(engine, "spam-obvious.eml");
            Assert.NotNull(a.BayesProbability);
            Assert.DoesNotContain(a.Hits, h => h.Name == "LOGISTIC");
            Assert.True(engine.Learn(Fixtures.Variant("newsletter.eml", 1), isSpam: false, accountId: null));
        }

        // A fresh logistic model was saved in its place.
        using var again = NewEngine(folder);
        Assert.Contains(Fixtures.AnalyzeFile(again, "spam-obvious.eml").Hits, h => h.Name == "LOGISTIC");
    }

    [Fact]
    public void Per_user_learning_moves_that_users_logistic_points_only()
    {
        using var folder = new TempFolder();
        using var engine = NewEngine(folder);
        Fixtures.Train(engine);
        double Points(long? account) => Fixtures.AnalyzeFile(engine, "newsletter.eml", account).Hits.Single(h => h.Name == "LOGISTIC").Score;
        var before = Points(1);
        for (var i = 0; i < 6; i++)
        {
            Assert.True(engine.Learn(Fixtures.Variant("newsletter.eml", i), isSpam: true, accountId: 1));
        }

        Assert.True(Points(1) > before, $"{before} -> {Points(1)}");
        Assert.Equal(before, Points(2));
        Assert.Equal(before, Points(null));
        engine.SaveAll();
        Assert.True(File.Exists(Path.Combine(folder.Path, "users", "1.lr")));
    }

    [Fact]
    public void A_running_engine_takes_a_newer_logistic_model_written_by_another_process()
    {
        using var folder = new TempFolder();
        using var server = NewEngine(folder);
        Assert.DoesNotContain(Fixtures.AnalyzeFile(server, "spam-obvious.eml").Hits, h => h.Name == "LOGISTIC");
        using (var cli = NewEngine(folder))
        {
            Fixtures.Train(cli);
            cli.SaveAll();
        }

        Assert.True(server.ReloadGlobalIfChanged());
        Assert.Contains(Fixtures.AnalyzeFile(server, "spam-obvious.eml").Hits, h => h.Name == "LOGISTIC");
    }
}
