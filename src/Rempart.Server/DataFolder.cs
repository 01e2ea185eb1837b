namespace Rempart.Server;

/// <summary>The data folder layout: everything Rempart keeps on disk lives under one root.</summary>
public sealed class DataFolder
{
    private DataFolder(string root) => Root = Path.GetFullPath(root);

    public string Root { get; }

    /// <summary>SQLite metadata database.</summary>
    public string DatabasePath => Path.Combine(Root, "rempart.db");

    /// <summary>Content-addressed message bodies.</summary>
    public string BlobsPath => Path.Combine(Root, "blobs");

    /// <summary>Generated TLS certificate and key.</summary>
    public string TlsPath => Path.Combine(Root, "tls");

    /// <summary>DKIM signing keys, one sub-folder per domain (private keys 0600).</summary>
    public string DkimPath => Path.Combine(Root, "dkim");

    /// <summary>Anti-spam classifier models (global and per user).</summary>
    public string SpamPath => Path.Combine(Root, "spam");

    /// <summary>Protection state kept across restarts: the IP reputation table (reputation.json).</summary>
    public string ReputationPath => Path.Combine(Root, "protection", "reputation.json");

    /// <summary>Health, alerting and report state (alert state file, probe account secret).</summary>
    public string MonitoringPath => Path.Combine(Root, "monitoring");

    /// <summary>Bearer token the CLI on this machine presents to the admin HTTP API (0600, made at start).</summary>
    public string AdminTokenPath => Path.Combine(Root, "admin-api.token");

    /// <summary>The configuration file a server started without --config reads, if present.</summary>
    public string ConfigPath => Path.Combine(Root, "rempart.json");

    /// <summary>Creates the folder (and its sub-folders) when missing.</summary>
    public static DataFolder Open(string root)
    {
        var folder = new DataFolder(root);
        Directory.CreateDirectory(folder.Root);
        Directory.CreateDirectory(folder.BlobsPath);
        Directory.CreateDirectory(folder.TlsPath);
        return folder;
    }
}
