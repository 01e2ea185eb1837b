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
