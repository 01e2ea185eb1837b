namespace Rempart.Common.Configuration;

/// <summary>Backup repository, schedule and retention (docs/backup.md).</summary>
public sealed class BackupOptions
{
    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Placeholder until the section has keys.")]
    public IEnumerable<string> Validate(string prefix)
    {
        _ = prefix;
        return [];
    }
}
