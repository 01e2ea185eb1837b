using Rempart.Common.Configuration;

namespace Rempart.Server;

/// <summary>A configuration file that cannot be used; the message names the key and says what to do.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException()
    {
    }

    public ConfigException(string message)
        : base(message)
    {
    }

    public ConfigException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Loads and validates <c>rempart.json</c>.</summary>
public static class ConfigLoader
{
    /// <summary>
    /// Loads the file at <paramref name="path"/> (or the defaults when null, or when the path is the default one and
    /// does not exist). Throws <see cref="ConfigException"/> naming the bad key or value.
    /// </summary>
    public static RempartOptions Load(string? path) => throw new NotImplementedException();
}
