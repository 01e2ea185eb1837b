namespace Rempart.Common.Configuration;

/// <summary>Options of the protection pipeline's Quarantine part (docs/configuration.md).</summary>
public sealed class QuarantineOptions
{
    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Placeholder until the section has keys.")]
    public IEnumerable<string> Validate(string prefix)
    {
        _ = prefix;
        return [];
    }
}
