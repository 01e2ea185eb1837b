namespace Rempart.Common.Configuration;

/// <summary>
/// Options of the protection pipeline's anti-spam part (docs/protection/antispam.md). A message gets a score (sum of
/// rule scores and the Bayes contribution) mapped to an Exchange-like spam confidence level (SCL 0-9, -1 = bypass);
/// the thresholds below say what each level does.
/// </summary>
public sealed class SpamOptions
{
    /// <summary>Scores messages at all. Off: every message gets SCL -1 (bypass). On by default.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Messages at or above this SCL are delivered to the recipient's Junk folder.</summary>
    public int JunkAtScl { get; set; } = 5;

    /// <summary>Messages at or above this SCL are quarantined (the admin releases them).</summary>
    public int QuarantineAtScl { get; set; } = 9;

    /// <summary>Messages at or above this SCL are refused during SMTP (5xx). Null (the default): never refused.</summary>
    public int? RejectAtScl { get; set; }

    /// <summary>Learns from users moving mail into and out of Junk over IMAP (per-user models).</summary>
    public bool LearnFromJunkMoves { get; set; } = true;

    /// <summary>
    /// Whether a user's Junk moves also train the global model. Off by default: one user's idea of spam (a
    /// newsletter they no longer want) should not change what everyone else receives.
    /// </summary>
    public bool JunkMovesTrainGlobal { get; set; }

    /// <summary>
    /// Distinct tokens a user's model must hold before it is consulted; below this the global model alone decides,
    /// so that a handful of moves does not make a noisy per-user model.
    /// </summary>
    public int MinTokensForUserModel { get; set; } = 200;

    /// <summary>Spam and ham messages (each) the global model must have learned before the Bayes score is used.</summary>
    public int MinMessagesForBayes { get; set; } = 20;

    /// <summary>Bytes of each text part read for tokens and rules; the rest of a large part is ignored.</summary>
    public int MaxBytesPerPart { get; set; } = 64 * 1024;

    /// <summary>Text parts examined per message.</summary>
    public int MaxParts { get; set; } = 16;

    /// <summary>Bytes of a message parsed when learning (the head of a huge message is enough to learn from).</summary>
    public int MaxLearnBytes { get; set; } = 512 * 1024;

    /// <summary>Learn requests from IMAP waiting to be processed; more are dropped (and logged).</summary>
    public int LearnQueueCapacity { get; set; } = 10_000;

    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        foreach (var (key, value) in new[] { ("junkAtScl", JunkAtScl), ("quarantineAtScl", QuarantineAtScl) })
        {
            if (value is < 1 or > 9)
            {
                yield return $"'{prefix}.{key}': must be between 1 and 9 (SCL), got {value}";
            }
        }

        if (RejectAtScl is { } reject && reject is < 1 or > 9)
        {
            yield return $"'{prefix}.rejectAtScl': must be between 1 and 9 (SCL) or null (never reject), got {reject}";
        }

        if (QuarantineAtScl < JunkAtScl)
        {
            yield return $"'{prefix}.quarantineAtScl': must be at least junkAtScl ({JunkAtScl}), got {QuarantineAtScl}";
        }

        if (RejectAtScl is { } r && r < JunkAtScl)
        {
            yield return $"'{prefix}.rejectAtScl': must be at least junkAtScl ({JunkAtScl}), got {r}";
        }

        if (MinTokensForUserModel < 0)
        {
            yield return $"'{prefix}.minTokensForUserModel': must be 0 or more, got {MinTokensForUserModel}";
        }

        if (MinMessagesForBayes < 1)
        {
            yield return $"'{prefix}.minMessagesForBayes': must be 1 or more, got {MinMessagesForBayes}";
        }

        if (MaxBytesPerPart is < 1024 or > 16 * 1024 * 1024)
        {
            yield return $"'{prefix}.maxBytesPerPart': must be between 1024 and 16777216, got {MaxBytesPerPart}";
        }

        if (MaxParts is < 1 or > 1000)
        {
            yield return $"'{prefix}.maxParts': must be between 1 and 1000, got {MaxParts}";
        }

        if (MaxLearnBytes is < 4096 or > 64 * 1024 * 1024)
        {
            yield return $"'{prefix}.maxLearnBytes': must be between 4096 and 67108864, got {MaxLearnBytes}";
        }

        if (LearnQueueCapacity is < 1 or > 1_000_000)
        {
            yield return $"'{prefix}.learnQueueCapacity': must be between 1 and 1000000, got {LearnQueueCapacity}";
        }
    }
}
