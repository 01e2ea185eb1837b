using System.Text;

namespace Rempart.Backup;

/// <summary>
/// Where the repository passphrase comes from: a key file, else the REMPART_BACKUP_PASSPHRASE environment variable.
/// Never a command-line argument (other users see those in the process list, and shells keep them in history).
/// The interactive prompt is the CLI's business.
/// </summary>
public static class BackupSecrets
{
    public const string EnvironmentVariable = "REMPART_BACKUP_PASSPHRASE";

    /// <summary>Key files larger than this are a mistake (a wrong path), not a key.</summary>
    private const int MaxKeyFile = 64 * 1024;

    /// <summary>The passphrase bytes, or null when neither source is set.</summary>
    public static byte[]? Resolve(string? keyFile, Func<string, string?>? environment = null)
    {
        if (!string.IsNullOrEmpty(keyFile))
        {
            return ReadKeyFile(keyFile);
        }

        var env = (environment ?? Environment.GetEnvironmentVariable)(EnvironmentVariable);
        return string.IsNullOrEmpty(env) ? null : Encoding.UTF8.GetBytes(env);
    }

    /// <summary>The file's bytes, without one trailing newline (files made with echo have one).</summary>
    public static byte[] ReadKeyFile(string path)
    {
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (!info.Exists)
        {
            throw new BackupException($"key file {full} does not exist");
        }

        if (info.Length is 0 or > MaxKeyFile)
        {
            throw new BackupException($"key file {full} is {info.Length} bytes; a key file holds 1 byte to 64 KiB");
        }

        var bytes = File.ReadAllBytes(full);
        var length = bytes.Length;
        if (length > 0 && bytes[length - 1] == '\n')
        {
            length--;
            if (length > 0 && bytes[length - 1] == '\r')
            {
                length--;
            }
        }

        if (length == 0)
        {
            throw new BackupException($"key file {full} holds only a line break");
        }

        return bytes[..length];
    }
}
