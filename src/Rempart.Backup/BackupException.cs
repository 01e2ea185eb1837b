namespace Rempart.Backup;

/// <summary>A backup operation refused or failed for a reason the operator can act on; the message says what to do.</summary>
public class BackupException : Exception
{
    public BackupException()
    {
    }

    public BackupException(string message)
        : base(message)
    {
    }

    public BackupException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The passphrase or key file does not open the repository.</summary>
public sealed class WrongPassphraseException : BackupException
{
    public WrongPassphraseException()
    {
    }

    public WrongPassphraseException(string message)
        : base(message)
    {
    }

    public WrongPassphraseException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
