using System.Collections.Concurrent;
using System.Diagnostics;

namespace Rempart.Store.Tests;

/// <summary>
/// Background writes (the deferred text index) give way to every other write queued with them, wait for a quiet
/// moment, and still run under a stream of writes that never lets the queue empty.
/// </summary>
public sealed class WriterPriorityTests
{
    [Fact]
    public async Task A_write_queued_after_a_background_write_commits_before_it()
    {
        await using var t = await TempStore.CreateAsync();
        var order = new ConcurrentQueue<string>();
        using var gate = new ManualResetEventSlim();
        var blocker = await t.HoldWriterAsync(gate);

        // Both wait in the queue while the writer is held: first the background write, then an ordinary one.
        var background = t.Store.WriteAsync(_ => { order.Enqueue("background"); return true; }, CancellationToken.None, background: true);
        var delivery = t.Store.WriteAsync(_ => { order.Enqueue("delivery"); return true; }, CancellationToken.None);
        gate.Set();

        Assert.True(await blocker);
        Assert.True(await delivery);
        Assert.True(await background);
        Assert.Equal(["delivery", "background"], order);
    }

    [Fact]
    public async Task A_background_write_waits_for_a_quiet_moment_after_the_last_other_write()
    {
        await using var t = await TempStore.CreateAsync();
        t.Store.MaxBackgroundWait = TimeSpan.FromMinutes(5);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        long lastLink = 0;

        // 300 ms of writes with no gap: the writer never finds its queue empty until the chain ends.
        var chain = await t.StartWriteChainAsync(stop.Token, _ => Volatile.Write(ref lastLink, Stopwatch.GetTimestamp()));
        var background = t.Store.WriteAsync(op => (At: Stopwatch.GetTimestamp(), op.Starved), CancellationToken.None, background: true);
        var (ranAt, starved) = await background.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(starved);
        await chain.WaitAsync(TimeSpan.FromSeconds(20));

        // After the chain's last write, and a quiet moment later (a negative gap: it ran during the chain).
        var gap = Stopwatch.GetElapsedTime(Volatile.Read(ref lastLink), ranAt);
        Assert.True(gap >= Rempart.Store.Sqlite.SqliteMailStore.BackgroundIdle, $"ran {gap.TotalMilliseconds:0.0} ms after the last other write");
    }

    [Fact]
    public async Task Another_process_commit_is_noticed_while_background_work_waits_behind_steady_writes()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        t.Store.MaxBackgroundWait = TimeSpan.FromMinutes(5);
        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = t.Store.Changes.Subscribe(inbox.Id, _ => heard.TrySetResult());

        // Steady writes and a background write that waits behind them: the writer loop never idles.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var chain = await t.StartWriteChainAsync(stop.Token);
        var background = t.Store.WriteAsync(_ => true, CancellationToken.None, background: true);

        // The admin CLI's commit, as another connection makes it.
        using (var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={t.DatabasePath};Pooling=False"))
        {
            other.Open();
            using var command = other.CreateCommand();
            command.CommandText = $"UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = {inbox.Id}";
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        await heard.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.False(background.IsCompleted);
        await stop.CancelAsync();
        await chain.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(await background.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_background_write_is_not_starved_by_a_queue_that_never_empties()
    {
        await using var t = await TempStore.CreateAsync();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        long chained = 0;
        var chain = await t.StartWriteChainAsync(stop.Token, _ => Interlocked.Increment(ref chained));
        var clock = Stopwatch.StartNew();
        var background = t.Store.WriteAsync(op => (Chained: Interlocked.Read(ref chained), op.Starved), CancellationToken.None, background: true);
        var (ranAfter, starved) = await background.WaitAsync(TimeSpan.FromSeconds(20));
        var waited = clock.Elapsed;
        await stop.CancelAsync();
        await chain.WaitAsync(TimeSpan.FromSeconds(20));

        // It ran while the chain was still going (ordinary writes before and after it), held back until its wait ran out,
        // and knew it (so it could do only a small part of its work).
        Assert.True(starved);
        Assert.True(ranAfter > 1);
        Assert.True(Interlocked.Read(ref chained) > ranAfter);
        Assert.True(waited >= Rempart.Store.Sqlite.SqliteMailStore.DefaultMaxBackgroundWait * 0.9, $"ran after {waited}");
    }
}
