namespace Rempart.Store;

/// <summary>A store operation refused for a reason the caller can report (duplicate name, missing item, ...).</summary>
public class StoreException : Exception
{
    public StoreException()
    {
    }

    public StoreException(string message)
        : base(message)
    {
    }

    public StoreException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Delivery or append would exceed the account's quota (SMTP 452 4.2.2, IMAP NO [OVERQUOTA]).</summary>
public sealed class QuotaExceededException : StoreException
{
    public QuotaExceededException()
    {
    }

    public QuotaExceededException(string message)
        : base(message)
    {
    }

    public QuotaExceededException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
