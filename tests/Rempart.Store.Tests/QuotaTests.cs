namespace Rempart.Store.Tests;

public sealed class QuotaTests
{
    [Fact]
    public async Task Delivery_over_byte_quota_is_refused_per_target()
    {
        await using var t = await TempStore.CreateAsync();
        var raw = Messages.Plain("big", new string('x', 2000));
        var small = await t.AddAccountAsync("small@example.com", maxBytes: raw.Length + 100);
        var large = await t.AddAccountAsync("large@example.com");
        var blob = await t.PutAsync(raw);

        var first = await t.Store.Messages.DeliverAsync(blob, [new DeliveryTarget(small.Id), new DeliveryTarget(large.Id)], DateTimeOffset.UtcNow);
        Assert.All(first, r => Assert.Equal(DeliveryOutcome.Stored, r.Outcome));

        var second = await t.Store.Messages.DeliverAsync(blob, [new DeliveryTarget(small.Id), new DeliveryTarget(large.Id)], DateTimeOffset.UtcNow);
        Assert.Equal(DeliveryOutcome.OverQuota, second[0].Outcome);
        Assert.Equal(DeliveryOutcome.Stored, second[1].Outcome);

        var usage = await t.Store.Messages.GetQuotaAsync(small.Id);
        Assert.Equal(raw.Length, usage.UsedBytes);
        Assert.Equal(1, usage.UsedMessages);
        Assert.Equal(raw.Length + 100, usage.MaxBytes);
        Assert.Null(usage.MaxMessages);
    }

    [Fact]
    public async Task Append_over_message_quota_throws_and_expunge_frees_room()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com", maxMessages: 2);
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "1");
        await t.AppendAsync(inbox.Id, "2");
        await Assert.ThrowsAsync<QuotaExceededException>(() => t.AppendAsync(inbox.Id, "3"));

        var blob = await t.PutAsync(Messages.Plain("4", "x"));
        var delivered = await t.Store.Messages.DeliverAsync(blob, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        Assert.Equal(DeliveryOutcome.OverQuota, delivered[0].Outcome);
        await Assert.ThrowsAsync<QuotaExceededException>(() => t.Store.Messages.CopyAsync(inbox.Id, [1], inbox.Id, move: false));

        await t.Store.Messages.StoreFlagsAsync(inbox.Id, [1], FlagOperation.Add, [@"\Deleted"]);
        await t.Store.Messages.ExpungeAsync(inbox.Id);
        Assert.Equal(1, (await t.Store.Messages.GetQuotaAsync(a.Id)).UsedMessages);
        await t.AppendAsync(inbox.Id, "5");

        // Unlimited again.
        await t.Store.Directory.SetQuotaAsync(a.Id, null, null);
        await t.AppendAsync(inbox.Id, "6");
        Assert.Equal(3, (await t.Store.Messages.GetQuotaAsync(a.Id)).UsedMessages);
    }

    [Fact]
    public async Task Append_over_byte_quota_throws()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com", maxBytes: 100);
        var inbox = await t.InboxAsync(a.Id);
        var ex = await Assert.ThrowsAsync<QuotaExceededException>(() => t.AppendAsync(inbox.Id, "too big", new string('y', 500)));
        Assert.Contains("quota", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await t.Store.Messages.GetQuotaAsync(a.Id)).UsedBytes);
    }
}
