using System.Security.Cryptography;
using System.Text;
using Rempart.Common.Configuration;
using Rempart.Store;
using Rempart.Store.Auth;

namespace Rempart.Monitoring.Checks;

/// <summary>The account the service and mail-flow probes log in as.</summary>
public sealed record ProbeCredentials(string Address, string Password);

/// <summary>
/// Creates the probe account (health-probe@HOSTNAME unless monitoring.health.service.probeUser says otherwise) on
/// start when it is missing, with a random password kept in DATA/monitoring/probe.secret (mode 0600). The probes
/// only ever send it over TLS (STARTTLS or implicit TLS), so it never crosses the wire in clear.
/// </summary>
public static class ProbeAccount
{
    public const string SecretFileName = "probe.secret";

    public static string AddressFor(RempartOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (options.Monitoring.Health.Service.ProbeUser ?? "health-probe@" + options.HostName).ToLowerInvariant();
    }

    public static async Task<ProbeCredentials> EnsureAsync(IMailStore store, RempartOptions options, string monitoringFolder, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var address = AddressFor(options);
        Directory.CreateDirectory(monitoringFolder);
        var secretPath = Path.Combine(monitoringFolder, SecretFileName);
        string? password = null;
        if (File.Exists(secretPath))
        {
            password = (await File.ReadAllTextAsync(secretPath, ct)).Trim();
        }

        var fresh = string.IsNullOrEmpty(password);
        if (fresh)
        {
            password = RandomNumberGenerator.GetString("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", 32);
            WriteSecret(secretPath, password);
        }

        var hasher = new PasswordHasher(options.Auth.Argon2MemoryKib, options.Auth.Argon2Iterations, options.Auth.Argon2Parallelism);
        var account = await store.Directory.GetAccountAsync(address, ct);
        if (account is null)
        {
            var domain = address[(address.IndexOf('@', StringComparison.Ordinal) + 1)..];
            if (!await store.Directory.IsLocalDomainAsync(domain, ct))
            {
                await store.Directory.AddDomainAsync(domain, ct);
            }

            await store.Directory.AddAccountAsync(new NewAccount(address, hasher.Hash(password!), IsAdmin: false, DisplayName: "Rempart health probe"), ct);
        }
        else if (fresh)
        {
            // The secret was lost (data folder copied without it): the account gets the new password.
            await store.Directory.SetPasswordHashAsync(account.Id, hasher.Hash(password!), ct);
        }

        return new ProbeCredentials(address, password!);
    }

    private static void WriteSecret(string path, string password)
    {
        var tmp = path + ".tmp";
        File.Delete(tmp);
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var f = new FileStream(tmp, fileOptions))
        {
            f.Write(Encoding.ASCII.GetBytes(password + "\n"));
            f.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
    }
}
