namespace Rempart.Store.Tests;

/// <summary>Mail-flow rules, quarantine and message trace in the SQLite store.</summary>
public sealed class ProtectionStoreTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    // ---------------------------------------------------------------- rules

    [Fact]
    public async Task Rules_save_replace_delete_list_in_order_and_bump_the_version()
    {
        await using var t = await TempStore.CreateAsync();
        var rules = t.Store.Protection;
        Assert.Equal(0, await rules.GetRulesVersionAsync());
        Assert.Empty(await rules.ListRulesAsync());

        await rules.SaveRuleAsync(new TransportRuleRecord("Zeta", 10, true, """{"a":1}""", T0));
        await rules.SaveRuleAsync(new TransportRuleRecord("alpha", 10, false, """{"b":2}""", T0, "first"));
        var saved = await rules.SaveRuleAsync(new TransportRuleRecord("  Block exe  ", 1, true, """{ "keep": "verbatim" ,"x":[1, 2] }""", T0));
        Assert.Equal("Block exe", saved.Name);
        Assert.Equal(3, await rules.GetRulesVersionAsync());

        var list = await rules.ListRulesAsync();
        Assert.Equal(["Block exe", "alpha", "Zeta"], list.Select(r => r.Name));
        Assert.Equal("""{ "keep": "verbatim" ,"x":[1, 2] }""", list[0].Definition);
        Assert.False(list[1].Enabled);
        Assert.Equal("first", list[1].Comment);

        // Same name, other case: replaced, not added.
        await rules.SaveRuleAsync(new TransportRuleRecord("ZETA", 0, false, """{"a":2}""", T0));
        list = await rules.ListRulesAsync();
        Assert.Equal(3, list.Count);
        Assert.Equal("ZETA", list[0].Name);
        Assert.Equal("""{"a":2}""", list[0].Definition);
        Assert.Equal(4, await rules.GetRulesVersionAsync());

        Assert.True(await rules.DeleteRuleAsync("block EXE"));
        Assert.Equal(5, await rules.GetRulesVersionAsync());
        Assert.False(await rules.DeleteRuleAsync("block exe"));
        Assert.Equal(5, await rules.GetRulesVersionAsync());
        Assert.Equal(["ZETA", "alpha"], (await rules.ListRulesAsync()).Select(r => r.Name));

        await Assert.ThrowsAsync<StoreException>(() => rules.SaveRuleAsync(new TransportRuleRecord(" ", 1, true, "{}", T0)));
        await Assert.ThrowsAsync<StoreException>(() => rules.SaveRuleAsync(new TransportRuleRecord("x", 1, true, "", T0)));
        await Assert.ThrowsAsync<StoreException>(() => rules.SaveRuleAsync(new TransportRuleRecord("bad\u0007name", 1, true, "{}", T0)));

        await t.ReopenAsync();
        Assert.Equal(5, await t.Store.Protection.GetRulesVersionAsync());
        Assert.Equal(2, (await t.Store.Protection.ListRulesAsync()).Count);
    }

    // ---------------------------------------------------------------- quarantine

    [Fact]
    public async Task Quarantine_add_get_list_filters_and_release_mark()
    {
        await using var t = await TempStore.CreateAsync();
        var q = t.Store.Protection;
        var spamBlob = await t.PutAsync(Messages.Plain("cheap pills", "buy now"));
        var virusBlob = await t.PutAsync(Messages.Plain("invoice", "open the attachment"));

        var spam = await q.AddQuarantineAsync(new NewQuarantine(
            spamBlob, "Spammer@Bad.example", ["Bob@Example.com", "carol@example.com"], "cheap pills", "m1@bad.example", "score 12.5", "Spam", T0, T0.AddDays(30), "TRACE1"));
        var virus = await q.AddQuarantineAsync(new NewQuarantine(
            virusBlob, "", ["dave@example.com"], "invoice", null, "Eicar-Test-Signature", "malware", T0.AddMinutes(1), T0.AddDays(30)));

        Assert.True(spam.Id > 0);
        Assert.Equal("spam", spam.Category);
        var got = (await q.GetQuarantineAsync(spam.Id))!;
        Assert.Equal(spamBlob, got.Blob);
        Assert.Equal("Spammer@Bad.example", got.Sender);
        Assert.Equal(["Bob@Example.com", "carol@example.com"], got.Recipients);
        Assert.Equal("m1@bad.example", got.MessageId);
        Assert.Equal("TRACE1", got.TraceId);
        Assert.Equal(T0, got.Received);
        Assert.Equal(T0.AddDays(30), got.Expires);
        Assert.Null(got.Released);
        Assert.Null(await q.GetQuarantineAsync(999_999));

        // Newest first.
        Assert.Equal([virus.Id, spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery())).Select(e => e.Id));
        Assert.Equal([spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery(Recipient: "bob@example.COM"))).Select(e => e.Id));
        Assert.Equal([spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery(Recipient: "<CAROL@example.com>"))).Select(e => e.Id));
        Assert.Equal([virus.Id, spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery(Recipient: "example.com"))).Select(e => e.Id));
        Assert.Empty(await q.ListQuarantineAsync(new QuarantineQuery(Recipient: "ob@example.com.invalid")));
        Assert.Equal([virus.Id], (await q.ListQuarantineAsync(new QuarantineQuery(Category: "MALWARE"))).Select(e => e.Id));
        Assert.Equal([spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery(Sender: "spammer@bad.example"))).Select(e => e.Id));
        Assert.Equal([spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery(Sender: "bad.example"))).Select(e => e.Id));
        Assert.Single(await q.ListQuarantineAsync(new QuarantineQuery(Limit: 1)));

        var when = T0.AddHours(2);
        Assert.True(await q.MarkReleasedAsync(spam.Id, "admin", when));
        Assert.False(await q.MarkReleasedAsync(spam.Id, "other", when.AddMinutes(1)));
        Assert.False(await q.MarkReleasedAsync(999_999, "admin", when));
        var released = (await q.GetQuarantineAsync(spam.Id))!;
        Assert.Equal(when, released.Released);
        Assert.Equal("admin", released.ReleasedBy);
        Assert.Equal([virus.Id], (await q.ListQuarantineAsync(new QuarantineQuery())).Select(e => e.Id));
        Assert.Equal([virus.Id, spam.Id], (await q.ListQuarantineAsync(new QuarantineQuery(IncludeReleased: true))).Select(e => e.Id));

        await Assert.ThrowsAsync<StoreException>(() => q.AddQuarantineAsync(new NewQuarantine(spamBlob, "a@b.c", [], "s", null, "r", "spam", T0, T0)));
        var missing = new BlobRef(new string('0', 64), 10);
        await Assert.ThrowsAsync<StoreException>(() => q.AddQuarantineAsync(new NewQuarantine(missing, "a@b.c", ["x@y.z"], "s", null, "r", "spam", T0, T0)));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task A_held_blob_survives_the_orphan_sweep_and_goes_after_delete()
    {
        await using var t = await TempStore.CreateAsync();
        var blob = await t.PutAsync(Messages.Plain("held", "body"));
        var entry = await t.Store.Protection.AddQuarantineAsync(new NewQuarantine(blob, "a@bad.example", ["b@example.com"], "held", null, "spam", "spam", T0, T0.AddDays(1)));

        Assert.Equal(0, await t.Store.SweepOrphanBlobsAsync(TimeSpan.Zero));
        Assert.True(t.Store.Blobs.Exists(blob.Hash));

        Assert.True(await t.Store.Protection.DeleteQuarantineAsync(entry.Id));
        Assert.False(await t.Store.Protection.DeleteQuarantineAsync(entry.Id));

        // The last reference went with the entry: the writer deletes the file after the commit, or the sweep does.
        await t.Store.SweepOrphanBlobsAsync(TimeSpan.Zero);
        Assert.False(t.Store.Blobs.Exists(blob.Hash));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task A_blob_shared_with_a_mailbox_stays_until_both_let_go()
    {
        await using var t = await TempStore.CreateAsync();
        var account = await t.AddAccountAsync("bob@example.com");
        var blob = await t.PutAsync(Messages.Plain("shared", "body"));
        var entry = await t.Store.Protection.AddQuarantineAsync(new NewQuarantine(blob, "a@bad.example", ["bob@example.com"], "shared", null, "spam", "spam", T0, T0.AddDays(1)));
        var inbox = await t.InboxAsync(account.Id);
        await t.Store.Messages.AppendAsync(inbox.Id, blob, [@"\Deleted"], T0);

        Assert.True(await t.Store.Protection.DeleteQuarantineAsync(entry.Id));
        await t.Store.SweepOrphanBlobsAsync(TimeSpan.Zero);
        Assert.True(t.Store.Blobs.Exists(blob.Hash));

        await t.Store.Messages.ExpungeAsync(inbox.Id);
        await t.Store.SweepOrphanBlobsAsync(TimeSpan.Zero);
        Assert.False(t.Store.Blobs.Exists(blob.Hash));
    }

    [Fact]
    public async Task Expire_removes_only_entries_past_their_expiry_and_frees_their_blobs()
    {
        await using var t = await TempStore.CreateAsync();
        var oldBlob = await t.PutAsync(Messages.Plain("old", "body"));
        var newBlob = await t.PutAsync(Messages.Plain("new", "body"));
        var old = await t.Store.Protection.AddQuarantineAsync(new NewQuarantine(oldBlob, "a@x.example", ["b@example.com"], "old", null, "r", "spam", T0, T0.AddDays(1)));
        var kept = await t.Store.Protection.AddQuarantineAsync(new NewQuarantine(newBlob, "a@x.example", ["b@example.com"], "new", null, "r", "spam", T0, T0.AddDays(3)));
        await t.Store.Protection.MarkReleasedAsync(old.Id, "admin", T0.AddHours(1));

        Assert.Equal(0, await t.Store.Protection.ExpireQuarantineAsync(T0.AddHours(23)));
        Assert.Equal(1, await t.Store.Protection.ExpireQuarantineAsync(T0.AddDays(2)));
        Assert.Null(await t.Store.Protection.GetQuarantineAsync(old.Id));
        Assert.NotNull(await t.Store.Protection.GetQuarantineAsync(kept.Id));
        await t.Store.SweepOrphanBlobsAsync(TimeSpan.Zero);
        Assert.False(t.Store.Blobs.Exists(oldBlob.Hash));
        Assert.True(t.Store.Blobs.Exists(newBlob.Hash));
        Assert.Equal(0, await t.Store.Protection.ExpireQuarantineAsync(T0.AddDays(2)));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    // ---------------------------------------------------------------- trace

    [Fact]
    public async Task Trace_append_and_query_by_each_filter()
    {
        await using var t = await TempStore.CreateAsync();
        var trace = t.Store.Protection;
        await trace.AppendTraceAsync(
        [
            new TraceEvent(T0, "Q1", TraceEventKind.Received, "Alice@Sender.example", "bob@example.com", "m1@sender.example", "192.0.2.1", "250 accepted", "Hello"),
            new TraceEvent(T0.AddSeconds(1), "Q1", TraceEventKind.Verdict, "Alice@Sender.example", null, "m1@sender.example", null, "clean"),
            new TraceEvent(T0.AddSeconds(2), "Q1", TraceEventKind.Delivered, "Alice@Sender.example", "bob@example.com", "m1@sender.example", null, "INBOX"),
            new TraceEvent(T0.AddSeconds(3), "Q2", TraceEventKind.Received, "eve@other.example", "carol@example.com", "<m2@other.example>", "198.51.100.7", "250 accepted"),
            new TraceEvent(T0.AddSeconds(4), "Q2", TraceEventKind.Quarantined, "eve@other.example", "carol@example.com", "m2@other.example", null, "spam: score 9"),
        ]);

        async Task<string[]> Ids(TraceQuery q) => [.. (await trace.QueryTraceAsync(q)).Select(e => e.TraceId + ":" + e.Kind)];

        Assert.Equal(["Q1:Received", "Q1:Verdict", "Q1:Delivered", "Q2:Received", "Q2:Quarantined"], await Ids(new TraceQuery()));
        Assert.Equal(["Q1:Received", "Q1:Verdict", "Q1:Delivered"], await Ids(new TraceQuery(Sender: "alice@sender.example")));
        Assert.Equal(["Q1:Received", "Q1:Verdict", "Q1:Delivered"], await Ids(new TraceQuery(Sender: "SENDER.example")));
        Assert.Equal(["Q2:Received", "Q2:Quarantined"], await Ids(new TraceQuery(Recipient: "Carol@Example.com")));
        Assert.Equal(["Q1:Received", "Q1:Delivered", "Q2:Received", "Q2:Quarantined"], await Ids(new TraceQuery(Recipient: "example.com")));
        Assert.Equal(["Q2:Received", "Q2:Quarantined"], await Ids(new TraceQuery(MessageId: "<m2@other.example>")));
        Assert.Equal(["Q1:Received", "Q1:Verdict", "Q1:Delivered"], await Ids(new TraceQuery(MessageId: "m1@sender.example")));
        Assert.Equal(["Q2:Received", "Q2:Quarantined"], await Ids(new TraceQuery(TraceId: "Q2")));
        Assert.Equal(["Q1:Delivered", "Q2:Received"], await Ids(new TraceQuery(Since: T0.AddSeconds(2), Until: T0.AddSeconds(3))));
        Assert.Equal(["Q2:Received"], await Ids(new TraceQuery(Sender: "eve@other.example", Until: T0.AddSeconds(3))));
        Assert.Empty(await Ids(new TraceQuery(Sender: "nobody@nowhere.example")));

        // The limit keeps the most recent events, still returned oldest first.
        Assert.Equal(["Q2:Received", "Q2:Quarantined"], await Ids(new TraceQuery(Limit: 2)));

        var first = (await trace.QueryTraceAsync(new TraceQuery(TraceId: "Q1", Limit: 1_000)))[0];
        Assert.Equal(T0, first.Time);
        Assert.Equal("Alice@Sender.example", first.Sender);
        Assert.Equal("bob@example.com", first.Recipient);
        Assert.Equal("192.0.2.1", first.RemoteIp);
        Assert.Equal("250 accepted", first.Detail);
        Assert.Equal("Hello", first.Subject);
        Assert.Equal("m2@other.example", (await trace.QueryTraceAsync(new TraceQuery(TraceId: "Q2")))[0].MessageId);
    }

    [Fact]
    public async Task Trace_keeps_insertion_order_for_equal_times_and_takes_large_batches()
    {
        await using var t = await TempStore.CreateAsync();
        var events = Enumerable.Range(0, 450)
            .Select(i => new TraceEvent(T0, "BIG", TraceEventKind.Delivered, "a@x.example", $"r{i}@example.com", null, null, "d" + i))
            .ToList();
        var commitsBefore = t.Store.CommitCount;
        await t.Store.Protection.AppendTraceAsync(events);
        Assert.Equal(commitsBefore + 1, t.Store.CommitCount);

        var back = await t.Store.Protection.QueryTraceAsync(new TraceQuery(TraceId: "BIG", Limit: 1000));
        Assert.Equal(events.Select(e => e.Detail), back.Select(e => e.Detail));

        var longDetail = new string('x', 10_000);
        await t.Store.Protection.AppendTraceAsync([new TraceEvent(T0, "LONG", TraceEventKind.Bounced, "", null, null, null, longDetail)]);
        var stored = (await t.Store.Protection.QueryTraceAsync(new TraceQuery(TraceId: "LONG"))).Single();
        Assert.True(stored.Detail.Length < longDetail.Length);
        Assert.Equal("", stored.Sender);

        await t.Store.Protection.AppendTraceAsync([]);
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Protection.AppendTraceAsync([new TraceEvent(T0, "", TraceEventKind.Received, "a@b.c", null, null, null, "x")]));
    }

    [Fact]
    public async Task Trace_prune_removes_only_older_events()
    {
        await using var t = await TempStore.CreateAsync();
        await t.Store.Protection.AppendTraceAsync(
            Enumerable.Range(0, 10).Select(i => new TraceEvent(T0.AddDays(i), "T" + i, TraceEventKind.Received, "a@x.example", null, null, null, "x")).ToList());

        Assert.Equal(4, await t.Store.Protection.PruneTraceAsync(T0.AddDays(4)));
        var left = await t.Store.Protection.QueryTraceAsync(new TraceQuery());
        Assert.Equal(Enumerable.Range(4, 6).Select(i => "T" + i), left.Select(e => e.TraceId));
        Assert.Equal(0, await t.Store.Protection.PruneTraceAsync(T0.AddDays(4)));
    }

    [Fact]
    public async Task Every_trace_kind_round_trips_by_name()
    {
        await using var t = await TempStore.CreateAsync();
        var kinds = Enum.GetValues<TraceEventKind>();
        await t.Store.Protection.AppendTraceAsync(kinds.Select((k, i) => new TraceEvent(T0.AddSeconds(i), "K", k, "a@x.example", null, null, null, k.ToString())).ToList());
        Assert.Equal(kinds, (await t.Store.Protection.QueryTraceAsync(new TraceQuery(TraceId: "K"))).Select(e => e.Kind));

        // Persisted names: renaming a member would make old rows unreadable.
        Assert.Equal(
            ["Received", "Verdict", "RuleHit", "Delivered", "Queued", "Relayed", "Deferred", "Bounced", "Rejected", "Quarantined", "Released"],
            kinds.Select(k => k.ToString()));
    }
}
