namespace Rempart.Common.Configuration;

/// <summary>Backup repository, schedule and retention (docs/backup.md).</summary>
public sealed class BackupOptions
{
    /// <summary>Repository folder (local disk or a mounted share). Null: every backup command needs --repo.</summary>
    public string? Repository { get; set; }

    /// <summary>
    /// Cron expression (5 fields, UTC) for scheduled backups by the running server, e.g. "0 1 * * *" for 01:00 daily.
    /// Null: no scheduled backups.
    /// </summary>
    public string? Schedule { get; set; }

    /// <summary>File holding the repository passphrase; else REMPART_BACKUP_PASSPHRASE is used.</summary>
    public string? KeyFile { get; set; }

    /// <summary>This server may add snapshots but never delete (prune is refused).</summary>
    public bool AppendOnly { get; set; }

    /// <summary>Retention applied after each scheduled backup (0 = rule off). With all zero, nothing is pruned.</summary>
    public int KeepLast { get; set; }

    public int KeepHourly { get; set; }

    public int KeepDaily { get; set; } = 7;

    public int KeepWeekly { get; set; } = 4;

    public int KeepMonthly { get; set; } = 6;

    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (Schedule is not null)
        {
            var fields = Schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 5)
            {
                yield return $"'{prefix}.schedule': '{Schedule}' is not a 5-field cron expression (minute hour day month weekday), e.g. \"0 1 * * *\"";
            }

            if (string.IsNullOrWhiteSpace(Repository))
            {
                yield return $"'{prefix}.repository': required when '{prefix}.schedule' is set";
            }
        }

        foreach (var (key, value) in new[] { ("keepLast", KeepLast), ("keepHourly", KeepHourly), ("keepDaily", KeepDaily), ("keepWeekly", KeepWeekly), ("keepMonthly", KeepMonthly) })
        {
            if (value < 0)
            {
                yield return $"'{prefix}.{key}': must be 0 or more (got {value})";
            }
        }
    }
}
