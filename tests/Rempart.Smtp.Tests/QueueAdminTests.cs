using Rempart.Smtp.Queue;
using Rempart.Store;

namespace Rempart.Smtp.Tests;

public class QueueAdminTests
{
    [Fact]
    public async Task List_show_retry_and_delete_work_on_the_stored_queue()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RcptReply = _ => "451 4.2.1 busy";
        var ids = await h.EnqueueAsync("alice@sender.test", new QueueRecipient("bob@dest.test"), new QueueRecipient("carol@other.test"));
        await h.DrainAsync();
        var admin = new QueueAdmin(h.Store, h.Clock, h.Runner.Wake);

        var items = await admin.ListAsync();
        Assert.Equal(2, items.Count);
        var bob = items.Single(i => i.Domain == "dest.test");
        Assert.Equal(["bob@dest.test"], bob.Recipients);
        Assert.Equal("alice@sender.test", bob.Sender);
        Assert.Equal(1, bob.Attempts);
        Assert.Contains("451", bob.LastError);

        var detail = await admin.ShowAsync(bob.Id);
        Assert.NotNull(detail);
        Assert.Equal("queued", detail.Subject);
        Assert.Equal("ENV-Q", detail.EnvelopeId);
        Assert.Contains("Message-Id: <q1@sender.test>", detail.Headers);
        Assert.Null(await admin.ShowAsync(999_999));

        // Not due for a minute; retry makes it due now and the next scan attempts it.
        Assert.Equal(0, await h.Runner.ProcessDueAsync());
        Assert.Equal(1, await admin.RetryAsync(bob.Id));
        h.Sink.RcptReply = _ => "250 2.1.5 OK";
        Assert.Equal(1, await h.Runner.ProcessDueAsync());
        Assert.Single(h.Originals);

        var other = ids.Single(id => id != bob.Id);
        Assert.True(await admin.DeleteAsync(other));
        Assert.False(await admin.DeleteAsync(other));
        Assert.Empty(await admin.ListAsync());
        Assert.Empty(h.Dsns);
    }

    [Fact]
    public async Task The_null_sender_is_listed_as_angle_brackets()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RefuseWith = "421 4.3.2 later";
        await h.EnqueueAsync("", new QueueRecipient("bob@dest.test"));
        await h.DrainAsync();

        var item = Assert.Single(await new QueueAdmin(h.Store).ListAsync());

        Assert.Equal("<>", item.Sender);
    }

    [Fact]
    public async Task A_sender_the_store_cannot_queue_a_dsn_for_does_not_block_the_queue()
    {
        await using var h = await QueueHarness.StartAsync();
        h.Sink.RcptReply = _ => "550 5.1.1 unknown";

        await h.EnqueueAsync("not-an-address", new QueueRecipient("bob@dest.test"));
        await h.DrainAsync();

        Assert.Empty(await h.Store.Queue.ListAsync());
        Assert.Empty(h.Sink.Messages);
    }
}
