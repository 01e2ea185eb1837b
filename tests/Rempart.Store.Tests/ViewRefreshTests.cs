namespace Rempart.Store.Tests;

/// <summary>The reads an IMAP session refreshes its view with: changes since a mod-sequence, metadata of a range.</summary>
public sealed class ViewRefreshTests
{
    [Fact]
    public async Task Changes_since_a_modseq_hold_new_and_changed_messages_and_expunged_uids()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "one");
        await t.AppendAsync(inbox.Id, "two");
        await t.AppendAsync(inbox.Id, "three");
        var known = (await t.InboxAsync(a.Id)).HighestModSeq;

        var none = await t.Store.Messages.GetChangesSinceAsync(inbox.Id, known);
        Assert.NotNull(none);
        Assert.Equal(known, none.HighestModSeq);
        Assert.Equal(4, none.UidNext);
        Assert.Equal(3, none.MessageCount);
        Assert.Empty(none.Changed);
        Assert.Empty(none.Expunged);

        await t.Store.Messages.StoreFlagsAsync(inbox.Id, [1], FlagOperation.Add, [@"\Deleted"]);
        await t.Store.Messages.StoreFlagsAsync(inbox.Id, [3], FlagOperation.Add, [@"\Flagged"]);
        await t.Store.Messages.ExpungeAsync(inbox.Id);
        await t.AppendAsync(inbox.Id, "four");

        var changes = await t.Store.Messages.GetChangesSinceAsync(inbox.Id, known);
        Assert.NotNull(changes);
        var now = await t.InboxAsync(a.Id);
        Assert.Equal(now.HighestModSeq, changes.HighestModSeq);
        Assert.Equal(5, changes.UidNext);
        Assert.Equal(3, changes.MessageCount);
        Assert.Equal([3L, 4L], changes.Changed.Select(m => m.Uid));
        Assert.Equal([@"\Flagged"], changes.Changed[0].Flags);
        Assert.Equal([1L], changes.Expunged);

        // The same as the separate reads it replaces.
        Assert.Equal((await t.Store.Messages.ListChangedSinceAsync(inbox.Id, known)).Select(m => (m.Uid, m.ModSeq)), changes.Changed.Select(m => (m.Uid, m.ModSeq)));
        Assert.Equal(await t.Store.Messages.ListExpungedSinceAsync(inbox.Id, known), changes.Expunged);
    }

    [Fact]
    public async Task Changes_of_a_deleted_mailbox_are_null()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var box = await t.Store.Messages.CreateMailboxAsync(a.Id, "Projects");
        Assert.NotNull(await t.Store.Messages.GetChangesSinceAsync(box.Id, 0));

        await t.Store.Messages.DeleteMailboxAsync(box.Id);
        Assert.Null(await t.Store.Messages.GetChangesSinceAsync(box.Id, 0));
    }

    [Fact]
    public async Task Metadata_of_several_messages_is_read_at_once()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "first subject");
        await t.AppendAsync(inbox.Id, "second subject");
        var messages = await t.Store.Messages.ListMessagesAsync(inbox.Id);

        var many = await t.Store.Messages.GetMetadataManyAsync([messages[0].Id, messages[1].Id, 999_999]);
        Assert.Equal(2, many.Count);
        foreach (var m in messages)
        {
            var single = await t.Store.Messages.GetMetadataAsync(m.Id);
            Assert.Equal(single, many[m.Id]);
        }

        Assert.Equal("first subject", many[messages[0].Id].Subject);
        Assert.Empty(await t.Store.Messages.GetMetadataManyAsync([]));
    }
}
