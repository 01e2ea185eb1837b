using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Checks;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;

namespace Rempart.Monitoring.Tests.Health;

public sealed class ProbeAccountTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rempart-probe-acct-" + Guid.NewGuid().ToString("n")[..8]);

    public ProbeAccountTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Creates_the_account_once_keeps_the_secret_private_and_resets_it_when_the_secret_is_lost()
    {
        var options = new RempartOptions { HostName = "mx.example.test" };
        options.Auth.Argon2MemoryKib = 8192;
        options.Auth.Argon2Iterations = 1;
        await using var store = await SqliteMailStore.OpenAsync(Path.Combine(_dir, "rempart.db"), Path.Combine(_dir, "blobs"), options.Store, NullLogger.Instance, default);
        var folder = Path.Combine(_dir, "monitoring");

        var first = await ProbeAccount.EnsureAsync(store, options, folder, default);
        Assert.Equal("health-probe@mx.example.test", first.Address);
        Assert.True(first.Password.Length >= 32);
        var account = await store.Directory.GetAccountAsync(first.Address);
        Assert.NotNull(account);
        Assert.False(account.IsAdmin);
        Assert.True(PasswordHasher.Verify(first.Password, account.PasswordHash));
        var secret = Path.Combine(folder, ProbeAccount.SecretFileName);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
        }

        var again = await ProbeAccount.EnsureAsync(store, options, folder, default);
        Assert.Equal(first, again);
        Assert.Single(await store.Directory.ListAccountsAsync("mx.example.test"));

        File.Delete(secret);
        var reset = await ProbeAccount.EnsureAsync(store, options, folder, default);
        Assert.NotEqual(first.Password, reset.Password);
        Assert.True(PasswordHasher.Verify(reset.Password, (await store.Directory.GetAccountAsync(reset.Address))!.PasswordHash));
    }
}
