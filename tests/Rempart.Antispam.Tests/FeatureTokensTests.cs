using System.Text;
using MimeKit;

namespace Rempart.Antispam.Tests;

public class FeatureTokensTests
{
    private static (MimeMessage Message, MessageContent Content) Parse(string text)
    {
        var message = Fixtures.Parse(Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n")));
        return (message, MessageContent.Extract(message, 16, 65536));
    }

    private static HashSet<uint> Collect(Action<Tokenizer.Sink> group)
    {
        var set = new HashSet<uint>();
        group(new Tokenizer.Sink(set));
        return set;
    }

    /// <summary>A token is the hash of its whole text: prefix and value hash the same as their concatenation.</summary>
    private static uint T(string token) => Tokenizer.Hash("", token);

    private const string ListRelayedSpam = """
        Return-Path: <list-admin@lists.example.org>
        Received: from lists.example.org (lists.example.org [192.0.2.10]) by mx.example.net; Thu, 8 Aug 2002 13:41:30 +0100
        Received: from relay.example.org by lists.example.org; Thu, 8 Aug 2002 13:37:08 +0100
        Received: from bulk-sender.example.biz (dsl-7.example.biz [203.0.113.45]) by relay.example.org; Thu, 8 Aug 2002 08:36:28 -0400
        Date: Thu, 8 Aug 2002 08:36:28 -0400 (EDT)
        Message-Id: <200208081236.IAA08924@bulk-sender.example.biz>
        From: offers4u@cheap.example.com
        To: Friends <friends@lists.example.org>
        Subject: FREE FREE FREE!

        All free!
        """;

    [Fact]
    public void Header_shape_reads_hops_return_path_and_the_shape_of_ids_and_dates()
    {
        var (message, _) = Parse(ListRelayedSpam);
        var set = Collect(sink => FeatureTokens.Headers(message, sink));

        Assert.Contains(T("hs:rcvd:3"), set);
        Assert.Contains(T("hs:rp:other"), set);
        Assert.Contains(T("hs:mid:<9.A9@a-a.a.a>"), set);
        Assert.Contains(T("hs:date:Aa, 9 Aa 9 9:9:9 -9 (A)"), set);
        Assert.Contains(T("hs:tz:-0400"), set);
        Assert.Contains(T("hs:fromlocal:a9a"), set);
        Assert.Contains(T("hs:toname:yes"), set);
        Assert.DoesNotContain(T("hs:rp:same"), set);
    }

    [Fact]
    public void Header_shape_tells_a_matching_return_path_and_a_missing_one_apart()
    {
        var (same, _) = Parse("Return-Path: <bounce@news.example.com>\nFrom: a@news.example.com\nSubject: x\n\nx\n");
        var (site, _) = Parse("Return-Path: <bounce@bounces.example.com>\nFrom: a@news.example.com\nSubject: x\n\nx\n");
        var (none, _) = Parse("From: a@news.example.com\nSubject: x\n\nx\n");

        Assert.Contains(T("hs:rp:same"), Collect(sink => FeatureTokens.Headers(same, sink)));
        Assert.Contains(T("hs:rp:samesite"), Collect(sink => FeatureTokens.Headers(site, sink)));
        var noneSet = Collect(sink => FeatureTokens.Headers(none, sink));
        Assert.Contains(T("hs:rp:none"), noneSet);
        Assert.Contains(T("hs:rcvd:0"), noneSet);
    }

    [Fact]
    public void Origin_reads_the_earliest_hops_not_the_latest()
    {
        var (message, _) = Parse(ListRelayedSpam);
        var set = Collect(sink => FeatureTokens.Origin(message, sink));

        // The two earliest hops (the last two Received headers).
        Assert.Contains(T("rcvdo:bulk-sender.example.biz"), set);
        Assert.Contains(T("rcvdo:d:example.biz"), set);
        Assert.Contains(T("rcvdo:relay.example.org"), set);
        Assert.Contains(T("ipo:203.0.113"), set);
        Assert.Contains(T("ipo:203.0"), set);

        // The latest hop, the same for everything the list forwards, is left to the word tokens.
        Assert.DoesNotContain(T("rcvdo:lists.example.org"), set);
        Assert.DoesNotContain(T("ipo:192.0.2"), set);
        Assert.Contains(T("hs:origin:other-site"), set);
    }

    [Fact]
    public void Origin_notes_a_first_hop_on_the_sender_s_own_site()
    {
        var (message, _) = Parse("Received: from mail.example.com (mail.example.com [198.51.100.7]) by mx.example.net; Thu, 8 Aug 2002 13:41:30 +0100\nFrom: a@example.com\nSubject: x\n\nx\n");
        var set = Collect(sink => FeatureTokens.Origin(message, sink));

        Assert.Contains(T("hs:origin:from-site"), set);
        Assert.Contains(T("rcvdo:mail.example.com"), set);
        Assert.Contains(T("ipo:198.51.100"), set);
    }

    [Fact]
    public void Shape_maps_letters_and_digits_and_collapses_runs()
    {
        Assert.Equal("<9.A9@a.a>", FeatureTokens.Shape("<20020801.ABC123@example.com>"));
        Assert.Equal("Aa9-a", FeatureTokens.Shape("Hello2002-world"));
        Assert.Equal("--", FeatureTokens.Shape("--"));
        Assert.Equal("", FeatureTokens.Shape(""));
    }

    // Cross-validation kept the header-shape tokens for Bayes and found they cost the logistic model ham: the engine
    // must count them in Bayes only.
    [Fact]
    public void The_engine_counts_header_shape_tokens_in_bayes_and_not_in_the_logistic_model()
    {
        using var folder = new TempFolder();
        using (var engine = new SpamEngine(Fixtures.Options(), folder.Path, null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance))
        {
            Fixtures.Train(engine);
            engine.SaveAll();
        }

        var shape = new HashSet<uint>();
        foreach (var raw in MailCorpus.Read(Fixtures.SpamFolder, 1 << 20))
        {
            var message = Fixtures.Parse(raw);
            FeatureTokens.Headers(message, new Tokenizer.Sink(shape));
            FeatureTokens.Origin(message, new Tokenizer.Sink(shape));
        }

        var bayes = BayesModel.Deserialize(File.ReadAllBytes(Path.Combine(folder.Path, "global.bayes")));
        var logistic = LogisticModel.Deserialize(File.ReadAllBytes(Path.Combine(folder.Path, "global.lr")), LogisticSettings.Default);
        Assert.NotEmpty(shape);
        Assert.All(shape, t => Assert.True(bayes.Tokens.TryGetValue(t, out var c) && c.Spam > 0));
        Assert.DoesNotContain(shape, t => logistic.Coefficients.ContainsKey(t));
    }
}
