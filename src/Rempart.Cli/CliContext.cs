using System.CommandLine;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Server;
using Rempart.Store;

namespace Rempart.Cli;

/// <summary>One command invocation: the global options resolved, the configuration and the store opened on demand.</summary>
internal sealed class CliContext(CliIo io, GlobalOptions globals, ParseResult parse)
{
    private RempartOptions? options;

    public CliIo Io => io;

    public ParseResult Parse => parse;

    /// <summary>Absolute data folder, relative paths resolved against the caller's working directory.</summary>
    public string DataDir { get; } = Path.GetFullPath(parse.GetValue(globals.Data) is { Length: > 0 } d ? d : GlobalOptions.DefaultData);

    /// <summary>The configuration file in use, or null for the built-in defaults.</summary>
    public string? ConfigPath
    {
        get
        {
            if (parse.GetValue(globals.Config) is { Length: > 0 } explicitPath)
            {
                return Path.GetFullPath(explicitPath);
            }

            var implicitPath = Path.Combine(DataDir, GlobalOptions.ConfigFileName);
            return File.Exists(implicitPath) ? implicitPath : null;
        }
    }

    /// <summary>Loads and validates the configuration once; a bad file is a usage error (exit 2).</summary>
    public RempartOptions Options
    {
        get
        {
            if (options is null)
            {
                var path = ConfigPath;
                try
                {
                    options = ConfigLoader.Load(path);
                }
                catch (ConfigException ex)
                {
                    throw CliException.Usage(ex.Message + Environment.NewLine + "Check it with: rempart config check" + (path is null ? "" : " --config " + path));
                }
            }

            return options;
        }
    }

    /// <summary>
    /// True when the data folder holds a database. Checked without <see cref="DataFolder.Open"/>, which would create
    /// sub-folders inside whatever folder a mistyped --data names; the file name is the one DataFolder.DatabasePath uses.
    /// </summary>
    public bool DataExists => File.Exists(Path.Combine(DataDir, "rempart.db"));

    /// <summary>
    /// Opens the store. Read-only commands pass <paramref name="create"/> false so that a mistyped --data reports an
    /// error instead of creating an empty folder. Dispose the store before the command returns: the server may be
    /// running in another process.
    /// </summary>
    public async Task<IMailStore> OpenStoreAsync(bool create, CancellationToken ct)
    {
        var opts = Options;
        if (!create && !DataExists)
        {
            throw CliException.Failed(
                $"no Rempart data in {DataDir} (rempart.db is missing)." + Environment.NewLine +
                "Pass --data DIR to point at your data folder, or create one with: rempart domain add example.com");
        }

        DataFolder data;
        try
        {
            data = DataFolder.Open(DataDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.Failed($"cannot use data folder {DataDir}: {ex.Message}" + Environment.NewLine + "Pass --data DIR with a folder you can write to.");
        }

        return await io.Host.OpenStore(opts, data, NullLoggerFactory.Instance, ct);
    }

    /// <summary>Fails with exit 1 and the hint to add the domain when it is not served.</summary>
    public static async Task RequireDomainAsync(IMailStore store, string domain, CancellationToken ct)
    {
        if (!await store.Directory.IsLocalDomainAsync(domain, ct))
        {
            throw CliException.Failed($"domain {domain} is not served; add it with: rempart domain add {domain}");
        }
    }

    public static async Task<AccountRecord> RequireAccountAsync(IMailStore store, string address, CancellationToken ct) =>
        await store.Directory.GetAccountAsync(address, ct)
        ?? throw CliException.Failed($"no account {address}; list accounts with: rempart user list");
}
