namespace Rempart.Store.Tests;

public sealed class QueueTests
{
    [Fact]
    public async Task Enqueue_splits_recipients_by_domain()
    {
        await using var t = await TempStore.CreateAsync();
        var blob = await t.PutAsync(Messages.Plain("out", "going out"));
        var received = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var ids = await t.Store.Queue.EnqueueAsync(new OutboundMessage(
            "a@example.com",
            [new QueueRecipient("x@One.test", "FAILURE,DELAY", "rfc822;x@one.test"), new QueueRecipient("y@two.test"), new QueueRecipient("z@one.TEST")],
            blob, received, EnvelopeId: "env-1", Ret: "HDRS"));

        Assert.Equal(2, ids.Count);
        var entries = await t.Store.Queue.ListAsync();
        var one = entries.Single(e => e.Domain == "one.test");
        Assert.Equal(["x@One.test", "z@one.TEST"], one.Recipients.Select(r => r.Address));
        Assert.Equal("FAILURE,DELAY", one.Recipients[0].Notify);
        Assert.Equal("rfc822;x@one.test", one.Recipients[0].OriginalRecipient);
        Assert.Equal(blob, one.Blob);
        Assert.Equal(received, one.Created);
        Assert.Equal(received, one.NextAttempt);
        Assert.True(one.Expires > received);
        Assert.Equal("env-1", one.EnvelopeId);
        Assert.Equal("HDRS", one.Ret);
        Assert.Equal(0, one.Attempts);
        Assert.Single(entries, e => e.Domain == "two.test");
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Queue.EnqueueAsync(new OutboundMessage("a@example.com", [], blob, received)));
    }

    [Fact]
    public async Task Due_update_retry_and_delete()
    {
        await using var t = await TempStore.CreateAsync();
        var blob = await t.PutAsync(Messages.Plain("out", "body"));
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var ids = await t.Store.Queue.EnqueueAsync(new OutboundMessage("a@example.com", [new QueueRecipient("x@one.test"), new QueueRecipient("y@two.test")], blob, now));

        Assert.Equal(2, (await t.Store.Queue.ListDueAsync(now, 10)).Count);
        Assert.Single(await t.Store.Queue.ListDueAsync(now, 1));
        Assert.Empty(await t.Store.Queue.ListDueAsync(now.AddSeconds(-1), 10));

        var entry = (await t.Store.Queue.GetAsync(ids[0]))!;
        await t.Store.Queue.UpdateAsync(entry with { NextAttempt = now.AddMinutes(5), Attempts = 1, LastError = "451 try later", DelayNoticeSent = true });
        var updated = (await t.Store.Queue.GetAsync(ids[0]))!;
        Assert.Equal(1, updated.Attempts);
        Assert.Equal("451 try later", updated.LastError);
        Assert.True(updated.DelayNoticeSent);
        Assert.Equal([ids[1]], (await t.Store.Queue.ListDueAsync(now, 10)).Select(e => e.Id));

        Assert.Equal(1, await t.Store.Queue.RetryNowAsync(ids[0], now));
        Assert.Equal(2, (await t.Store.Queue.ListDueAsync(now, 10)).Count);
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Queue.UpdateAsync(entry with { Id = 999 }));

        // The body stays while any entry refers to it.
        Assert.True(await t.Store.Queue.DeleteAsync(ids[0]));
        Assert.True(t.Store.Blobs.Exists(blob.Hash));
        Assert.True(await t.Store.Queue.DeleteAsync(ids[1]));
        Assert.False(t.Store.Blobs.Exists(blob.Hash));
        Assert.False(await t.Store.Queue.DeleteAsync(ids[1]));
        Assert.Null(await t.Store.Queue.GetAsync(ids[1]));
    }
}
