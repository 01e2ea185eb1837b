using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Backup.Repository;
using Rempart.Common.Configuration;

namespace Rempart.Backup.Tests;

public sealed class SchedulerTests
{
    [Fact]
    public void The_cron_schedule_gives_the_next_run_in_utc_and_bad_ones_are_refused()
    {
        var now = new DateTimeOffset(2026, 11, 28, 0, 30, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 1, 0, 0, TimeSpan.Zero), BackupScheduler.NextRun("0 1 * * *", now));
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 0, 45, 0, TimeSpan.Zero), BackupScheduler.NextRun("*/15 * * * *", now));
        Assert.Null(BackupScheduler.NextRun(null, now));
        Assert.Throws<BackupException>(() => BackupScheduler.NextRun("61 * * * *", now));
        Assert.NotEmpty(new BackupOptions { Schedule = "0 1 * *", Repository = "/r" }.Validate("backup"));
        Assert.NotEmpty(new BackupOptions { Schedule = "0 1 * * *" }.Validate("backup"));
        Assert.NotEmpty(new BackupOptions { KeepDaily = -1 }.Validate("backup"));
        Assert.Empty(new BackupOptions { Schedule = "0 1 * * *", Repository = "/r" }.Validate("backup"));
    }

    [Fact]
    public async Task A_scheduled_run_backs_up_with_the_key_file_and_applies_retention()
    {
        using var tmp = new TempDir();
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await TestData.FillAsync(store, extraFolders: 0);
        }

        var keyFile = tmp.Sub("key");
        File.WriteAllText(keyFile, System.Text.Encoding.UTF8.GetString(TestData.Passphrase) + "\n");
        BackupRepository.Init(tmp.Sub("repo"), BackupSecrets.ReadKeyFile(keyFile), false, DateTimeOffset.UtcNow, TestData.FastKdf).Dispose();
        var options = new BackupOptions { Repository = tmp.Sub("repo"), KeyFile = keyFile, KeepLast = 2, KeepDaily = 0, KeepWeekly = 0, KeepMonthly = 0 };
        var scheduler = new BackupScheduler(options, tmp.Sub("data"), null, NullLogger<BackupScheduler>.Instance, TimeProvider.System);
        for (var i = 0; i < 3; i++)
        {
            await scheduler.RunOnceAsync(default);
        }

        using var repo = BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase);
        Assert.Equal(2, repo.ListSnapshotIds().Count);
        Assert.All(repo.ReadAllSnapshots().Snapshots, s => Assert.Equal("scheduled", s.Tag));
    }
}
