using System.Runtime.CompilerServices;
using Rempart.Store;

namespace Rempart.Pop3;

/// <summary>
/// Exclusive maildrop locks (RFC 1939 section 8: the server acquires an exclusive-access lock on the maildrop when
/// a session enters TRANSACTION). Process-wide, one table per store instance, keyed by account id: a second POP3
/// login for the same account gets -ERR [IN-USE] (RFC 2449 section 8.1.1) until the first session ends.
/// </summary>
public sealed class MaildropLockTable
{
    private static readonly ConditionalWeakTable<IMailStore, MaildropLockTable> s_tables = [];
    private readonly Lock _gate = new();
    private readonly HashSet<long> _held = [];

    /// <summary>The table for one store (tests open several stores in one process; their account ids overlap).</summary>
    public static MaildropLockTable For(IMailStore store) => s_tables.GetValue(store, static _ => new MaildropLockTable());

    /// <summary>Locks an account's maildrop, or returns null when another session holds it. Dispose to release.</summary>
    public IDisposable? TryAcquire(long accountId)
    {
        lock (_gate)
        {
            return _held.Add(accountId) ? new Holder(this, accountId) : null;
        }
    }

    public bool IsLocked(long accountId)
    {
        lock (_gate)
        {
            return _held.Contains(accountId);
        }
    }

    private void Release(long accountId)
    {
        lock (_gate)
        {
            _held.Remove(accountId);
        }
    }

    private sealed class Holder(MaildropLockTable table, long accountId) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                table.Release(accountId);
            }
        }
    }
}
