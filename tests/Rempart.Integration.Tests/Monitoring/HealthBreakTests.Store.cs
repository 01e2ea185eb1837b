using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Rempart.Integration.Tests.Monitoring;

public sealed partial class HealthBreakTests
{
    /// <summary>
    /// A message body damaged on disk (one byte flipped in its blob file, as a failing disk or a careless hand would):
    /// the store check's rolling sample re-hashes it, store/blobs goes Unhealthy naming the message, one alert goes
    /// out; the byte put back, the next pass is clean and one resolution follows.
    /// </summary>
    [Fact]
    public async Task Corrupted_blob_makes_store_blobs_unhealthy_with_one_alert_then_recovers_when_repaired()
    {
        using var hook = new WebhookReceiver();
        await using var server = ServerProcess.Create(c => HealthTestKit.Configure(c, hook, h => h["store"] = new JsonObject
        {
            ["enabled"] = true,
            ["interval"] = "00:00:01",
            ["sampleSize"] = 1000,
        }));
        await server.StartAsync();
        var (user, password) = await MailProbe.NewUserAsync(server, "scrub");
        await MailProbe.SubmitAsync(server, user, password, MailProbe.Message(user, user, "keep me whole", "a body the disk will damage"));

        var blobs = Path.Combine(server.DataDir, "blobs");
        var clock = Stopwatch.StartNew();
        string[] files = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(30) && files.Length == 0)
        {
            // blobs/ab/abcd... (64 hex digits); blobs/tmp/ holds bodies being written.
            files = [.. Directory.GetFiles(blobs, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f).Length == 64 && !Path.GetRelativePath(blobs, f).StartsWith("tmp", StringComparison.Ordinal))];
            await Task.Delay(100);
        }

        var victim = Assert.Single(files);
        await HealthTestKit.WaitForAsync(server, "store", "blobs", "Healthy");

        var original = await File.ReadAllBytesAsync(victim);
        var damaged = (byte[])original.Clone();
        damaged[damaged.Length / 2] ^= 0x40;
        await File.WriteAllBytesAsync(victim, damaged);

        var unhealthy = await HealthTestKit.WaitForAsync(server, "store", "blobs", "Unhealthy");
        Assert.Contains(user, (string?)unhealthy["detail"], StringComparison.Ordinal);
        await Task.Delay(Settle);
        Assert.Equal(["firing"], hook.StatusesFor("it/store/blobs"));

        await File.WriteAllBytesAsync(victim, original);
        await HealthTestKit.WaitForAsync(server, "store", "blobs", "Healthy");
        Assert.Equal(["firing", "resolved"], await hook.WaitForAsync("it/store/blobs", 2));
        await Task.Delay(Settle);
        Assert.Equal(["firing", "resolved"], hook.StatusesFor("it/store/blobs"));
    }
}
