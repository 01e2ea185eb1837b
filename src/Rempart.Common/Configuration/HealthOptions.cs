namespace Rempart.Common.Configuration;

/// <summary>monitoring.health: see docs/monitoring.md.</summary>
public sealed class HealthOptions
{
    /// <summary>Whether this part runs at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Configuration errors, each naming its key under <paramref name="prefix"/>.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (!Enabled)
        {
            return [];
        }

        _ = prefix;
        return [];
    }
}
