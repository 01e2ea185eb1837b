namespace Rempart.Store.Tests;

public sealed class MessageTests
{
    [Fact]
    public async Task Delivery_to_many_recipients_stores_one_blob_file()
    {
        await using var t = await TempStore.CreateAsync();
        var accounts = new List<AccountRecord>();
        for (var i = 0; i < 5; i++)
        {
            accounts.Add(await t.AddAccountAsync($"user{i}@example.com"));
        }

        var blob = await t.PutAsync(Messages.Plain("Hello all", "one body for everyone"));
        var results = await t.Store.Messages.DeliverAsync(blob, accounts.Select(a => new DeliveryTarget(a.Id)).ToList(), DateTimeOffset.UtcNow);

        Assert.All(results, r => Assert.Equal(DeliveryOutcome.Stored, r.Outcome));
        Assert.All(results, r => Assert.Equal(1, r.Uid));
        Assert.Single(t.Store.BlobFiles.EnumerateHashes());
        foreach (var account in accounts)
        {
            var inbox = await t.InboxAsync(account.Id);
            Assert.Equal(1, inbox.MessageCount);
            Assert.Equal(1, inbox.UnseenCount);
            var message = Assert.Single(await t.Store.Messages.ListMessagesAsync(inbox.Id));
            Assert.Equal(blob.Hash, message.BlobHash);
            var meta = await t.Store.Messages.GetMetadataAsync(message.Id);
            Assert.Equal("Hello all", meta!.Subject);
            Assert.StartsWith("(", meta.Envelope, StringComparison.Ordinal);
            Assert.Contains("Hello all", meta.Envelope, StringComparison.Ordinal);
            Assert.StartsWith("(", meta.BodyStructure, StringComparison.Ordinal);
        }

        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task Delivery_of_content_in_memory_stores_the_same_metadata_and_index_as_from_the_blob()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var b = await t.AddAccountAsync("b@example.com");
        var raw = Messages.Plain("Quarterly figures", "the turnover grew by eleven percent");
        var blob = await t.PutAsync(raw);

        var fromMemory = await t.Store.Messages.DeliverAsync(blob, raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        var again = await t.Store.Messages.DeliverAsync(blob, [new DeliveryTarget(b.Id)], DateTimeOffset.UtcNow);

        Assert.Equal(DeliveryOutcome.Stored, Assert.Single(fromMemory).Outcome);
        Assert.Equal(DeliveryOutcome.Stored, Assert.Single(again).Outcome);
        var inboxA = await t.InboxAsync(a.Id);
        var inboxB = await t.InboxAsync(b.Id);
        var metaA = await t.Store.Messages.GetMetadataAsync(Assert.Single(await t.Store.Messages.ListMessagesAsync(inboxA.Id)).Id);
        var metaB = await t.Store.Messages.GetMetadataAsync(Assert.Single(await t.Store.Messages.ListMessagesAsync(inboxB.Id)).Id);
        Assert.Equal("Quarterly figures", metaA!.Subject);
        Assert.Equal(metaA.Envelope, metaB!.Envelope);
        Assert.Equal(metaA.BodyStructure, metaB.BodyStructure);
        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inboxA.Id, "eleven percent", TextSearchScope.Body));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task Delivery_of_content_in_memory_refuses_bytes_that_are_not_the_blob()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var blob = await t.PutAsync(Messages.Plain("x", "y"));

        await Assert.ThrowsAsync<ArgumentException>(() => t.Store.Messages.DeliverAsync(blob, new byte[3], [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow));
        Assert.Equal(0, (await t.InboxAsync(a.Id)).MessageCount);
    }

    [Fact]
    public async Task Delivery_reports_unknown_accounts_and_falls_back_to_inbox()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var blob = await t.PutAsync(Messages.Plain("x", "y"));
        var results = await t.Store.Messages.DeliverAsync(
            blob, [new DeliveryTarget(a.Id, "Junk", [@"\Seen"]), new DeliveryTarget(a.Id, "No/Such/Folder"), new DeliveryTarget(12345)], DateTimeOffset.UtcNow);

        var junk = await t.Store.Messages.GetMailboxAsync(a.Id, "Junk");
        var inbox = await t.InboxAsync(a.Id);
        Assert.Equal(junk!.Id, results[0].MailboxId);
        Assert.Equal(inbox.Id, results[1].MailboxId);
        Assert.Equal(DeliveryOutcome.NoSuchAccount, results[2].Outcome);
        Assert.Equal([@"\Seen"], (await t.Store.Messages.ListMessagesAsync(junk.Id))[0].Flags);
    }

    [Fact]
    public async Task Uids_stay_ascending_across_expunge_and_reopen()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        for (var i = 0; i < 3; i++)
        {
            await t.AppendAsync(inbox.Id, $"m{i}");
        }

        await t.Store.Messages.StoreFlagsAsync(inbox.Id, [2, 3], FlagOperation.Add, [@"\Deleted"]);
        Assert.Equal([3], await t.Store.Messages.ExpungeAsync(inbox.Id, [3]));
        Assert.Equal([2], await t.Store.Messages.ExpungeAsync(inbox.Id));
        await t.ReopenAsync();
        var next = await t.AppendAsync(inbox.Id, "after");
        Assert.Equal(4, next.Uid);
        Assert.Equal([1L, 4L], (await t.Store.Messages.ListMessagesAsync(inbox.Id)).Select(m => m.Uid));
        Assert.Equal(5, (await t.InboxAsync(a.Id)).UidNext);
    }

    [Fact]
    public async Task Uidvalidity_changes_when_a_name_is_deleted_and_recreated()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var first = await t.Store.Messages.CreateMailboxAsync(a.Id, "Projects");
        await t.AppendAsync(first.Id, "old");
        await t.Store.Messages.DeleteMailboxAsync(first.Id);
        Assert.Null(await t.Store.Messages.GetMailboxAsync(a.Id, "Projects"));
        var second = await t.Store.Messages.CreateMailboxAsync(a.Id, "Projects");
        Assert.NotEqual(first.UidValidity, second.UidValidity);
        Assert.True(second.UidValidity > first.UidValidity);
        Assert.Equal(0, second.MessageCount);
        Assert.Empty(t.Store.BlobFiles.EnumerateHashes());
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.CreateMailboxAsync(a.Id, "Projects"));
        await Assert.ThrowsAsync<StoreException>(async () => await t.Store.Messages.DeleteMailboxAsync((await t.InboxAsync(a.Id)).Id));
    }

    [Fact]
    public async Task Every_change_takes_the_next_modseq_and_expunges_are_remembered()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var m1 = await t.AppendAsync(inbox.Id, "one");
        var m2 = await t.AppendAsync(inbox.Id, "two");
        Assert.True(m2.ModSeq > m1.ModSeq);

        var flagged = await t.Store.Messages.StoreFlagsAsync(inbox.Id, [1], FlagOperation.Add, [@"\Flagged", "$Important"]);
        var change = Assert.Single(flagged.Changed);
        Assert.True(change.ModSeq > m2.ModSeq);
        Assert.Equal([@"\Flagged", "$Important"], change.Flags);

        // No real change: no new modseq.
        var same = await t.Store.Messages.StoreFlagsAsync(inbox.Id, [1], FlagOperation.Add, [@"\flagged"]);
        Assert.Empty(same.Changed);
        Assert.Equal(change.ModSeq, (await t.InboxAsync(a.Id)).HighestModSeq);

        var changed = await t.Store.Messages.ListChangedSinceAsync(inbox.Id, m2.ModSeq);
        Assert.Equal([1L], changed.Select(m => m.Uid));

        await t.Store.Messages.StoreFlagsAsync(inbox.Id, [2], FlagOperation.Replace, [@"\Deleted", @"\Seen"]);
        var beforeExpunge = (await t.InboxAsync(a.Id)).HighestModSeq;
        await t.Store.Messages.ExpungeAsync(inbox.Id);
        var after = await t.InboxAsync(a.Id);
        Assert.Equal(beforeExpunge + 1, after.HighestModSeq);
        Assert.Equal([2L], await t.Store.Messages.ListExpungedSinceAsync(inbox.Id, beforeExpunge));
        Assert.Empty(await t.Store.Messages.ListExpungedSinceAsync(inbox.Id, after.HighestModSeq));

        var removed = await t.Store.Messages.StoreFlagsAsync(inbox.Id, [1], FlagOperation.Remove, ["$important"]);
        Assert.Equal([@"\Flagged"], removed.Changed[0].Flags);
    }

    [Fact]
    public async Task Unchangedsince_leaves_newer_messages_alone()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var m1 = await t.AppendAsync(inbox.Id, "one");
        var m2 = await t.AppendAsync(inbox.Id, "two");

        var result = await t.Store.Messages.StoreFlagsAsync(inbox.Id, [1, 2], FlagOperation.Add, [@"\Seen"], unchangedSince: m1.ModSeq);
        Assert.Equal([1L], result.Changed.Select(m => m.Uid));
        Assert.Equal([2L], result.Failed);
        Assert.Empty((await t.Store.Messages.ListMessagesAsync(inbox.Id))[1].Flags);
        Assert.True(m2.ModSeq > m1.ModSeq);
    }

    [Fact]
    public async Task Invalid_flags_are_refused()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await Assert.ThrowsAsync<StoreException>(() => t.AppendAsync(inbox.Id, "x", "y", "two words"));
        var ok = await t.AppendAsync(inbox.Id, "x", "y", @"\SEEN", @"\Recent", "Work");
        Assert.Equal([@"\Seen", "Work"], (await t.Store.Messages.ListMessagesAsync(inbox.Id)).Single(m => m.Uid == ok.Uid).Flags);
        Assert.Equal(0, (await t.InboxAsync(a.Id)).UnseenCount);
    }

    [Fact]
    public async Task Copy_and_move_keep_flags_and_report_copyuid()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var archive = await t.Store.Messages.GetMailboxAsync(a.Id, "Archive");
        await t.AppendAsync(archive!.Id, "already there");
        await t.AppendAsync(inbox.Id, "one", "b", @"\Flagged");
        await t.AppendAsync(inbox.Id, "two");
        await t.AppendAsync(inbox.Id, "three", "b", @"\Seen");

        var copy = await t.Store.Messages.CopyAsync(inbox.Id, [1, 3, 99], archive.Id, move: false);
        Assert.Equal(archive.UidValidity, copy.UidValidity);
        Assert.Equal([1L, 3L], copy.SourceUids);
        Assert.Equal([2L, 3L], copy.TargetUids);
        var archived = await t.Store.Messages.ListMessagesAsync(archive.Id);
        Assert.Equal([@"\Flagged"], archived.Single(m => m.Uid == 2).Flags);
        Assert.Equal([@"\Seen"], archived.Single(m => m.Uid == 3).Flags);
        Assert.Equal(3, (await t.InboxAsync(a.Id)).MessageCount);

        var trash = await t.Store.Messages.GetMailboxAsync(a.Id, "Trash");
        var beforeMove = (await t.InboxAsync(a.Id)).HighestModSeq;
        var move = await t.Store.Messages.CopyAsync(inbox.Id, [2], trash!.Id, move: true);
        Assert.Equal([1L], move.TargetUids);
        Assert.Equal([1L, 3L], (await t.Store.Messages.ListMessagesAsync(inbox.Id)).Select(m => m.Uid));
        Assert.Equal([2L], await t.Store.Messages.ListExpungedSinceAsync(inbox.Id, beforeMove));
        Assert.Equal(6, (await t.Store.Messages.GetQuotaAsync(a.Id)).UsedMessages);
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task Rename_moves_children()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var work = await t.Store.Messages.CreateMailboxAsync(a.Id, "Work/2025/Q1");
        await t.Store.Messages.CreateMailboxAsync(a.Id, "Workshop");
        var parent = await t.Store.Messages.GetMailboxAsync(a.Id, "Work");
        Assert.NotNull(parent);

        await t.Store.Messages.RenameMailboxAsync(parent.Id, "Jobs");
        var names = (await t.Store.Messages.ListMailboxesAsync(a.Id)).Select(m => m.Name).ToHashSet();
        Assert.Contains("Jobs", names);
        Assert.Contains("Jobs/2025", names);
        Assert.Contains("Jobs/2025/Q1", names);
        Assert.Contains("Workshop", names);
        Assert.DoesNotContain("Work", names);
        Assert.Equal(work.UidValidity, (await t.Store.Messages.GetMailboxAsync(work.Id))!.UidValidity);

        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.RenameMailboxAsync(parent.Id, "Workshop"));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.RenameMailboxAsync(parent.Id, "Jobs/2025/Q1/Sub"));
    }

    [Fact]
    public async Task Renaming_inbox_moves_its_messages_and_leaves_it_empty()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "one", "b", @"\Seen");
        await t.AppendAsync(inbox.Id, "two");

        await t.Store.Messages.RenameMailboxAsync(inbox.Id, "Old Inbox");
        var old = await t.Store.Messages.GetMailboxAsync(a.Id, "Old Inbox");
        var emptied = await t.InboxAsync(a.Id);
        Assert.Equal(inbox.Id, emptied.Id);
        Assert.Equal(0, emptied.MessageCount);
        Assert.Equal(2, old!.MessageCount);
        Assert.Equal(1, old.UnseenCount);
        Assert.Equal([1L, 2L], await t.Store.Messages.ListExpungedSinceAsync(inbox.Id, inbox.HighestModSeq));

        var next = await t.AppendAsync(inbox.Id, "three");
        Assert.Equal(3, next.Uid);
    }

    [Fact]
    public async Task Mailbox_names_are_validated_and_inbox_is_case_insensitive()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.CreateMailboxAsync(a.Id, ""));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.CreateMailboxAsync(a.Id, "a//b"));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.CreateMailboxAsync(a.Id, "/x"));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.CreateMailboxAsync(a.Id, "InBox"));
        var child = await t.Store.Messages.CreateMailboxAsync(a.Id, "inbox/Sub");
        Assert.Equal("INBOX/Sub", child.Name);
        await t.Store.Messages.SetSubscribedAsync(child.Id, false);
        Assert.False((await t.Store.Messages.GetMailboxAsync(child.Id))!.Subscribed);
    }

    [Fact]
    public async Task Deleting_messages_releases_blob_files_after_commit()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var b = await t.AddAccountAsync("b@example.com");
        var blob = await t.PutAsync(Messages.Plain("shared", "body"));
        await t.Store.Messages.DeliverAsync(blob, [new DeliveryTarget(a.Id), new DeliveryTarget(b.Id)], DateTimeOffset.UtcNow);

        var inboxA = await t.InboxAsync(a.Id);
        await t.Store.Messages.StoreFlagsAsync(inboxA.Id, [1], FlagOperation.Add, [@"\Deleted"]);
        await t.Store.Messages.ExpungeAsync(inboxA.Id);
        Assert.True(t.Store.Blobs.Exists(blob.Hash));

        Assert.True(await t.Store.Directory.RemoveAccountAsync("b@example.com"));
        Assert.False(t.Store.Blobs.Exists(blob.Hash));
        Assert.Empty(await t.Store.CheckIntegrityAsync());

        // Stored again later, the same body is accepted again.
        var again = await t.PutAsync(Messages.Plain("new", "body"));
        await t.Store.Messages.DeliverAsync(again, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        Assert.Single(await t.Store.Messages.ListMessagesAsync(inboxA.Id));
    }

    [Fact]
    public async Task Changes_are_published_after_commit()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var notified = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = t.Store.Changes.Subscribe(inbox.Id, _ =>
        {
            // Published after commit: a fresh reader already sees the message.
            var count = t.Store.Messages.ListMessagesAsync(inbox.Id).GetAwaiter().GetResult().Count;
            notified.TrySetResult(count);
        });

        var blob = await t.PutAsync(Messages.Plain("ping", "x"));
        await t.Store.Messages.DeliverAsync(blob, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        Assert.Equal(1, await notified.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_body_deleted_from_the_blob_store_cannot_be_referenced()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var raw = Messages.Plain("gone", "body");
        var blob = await t.PutAsync(raw);
        File.Delete(t.Store.BlobFiles.PathOf(blob.Hash));
        var inbox = await t.InboxAsync(a.Id);
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Messages.AppendAsync(inbox.Id, blob, [], DateTimeOffset.UtcNow));
    }
}
