namespace Rempart.Store;

/// <summary>
/// In-process notifications that a mailbox changed (new message, flags, expunge, rename). IMAP sessions in IDLE
/// and between commands use it to know when to look; the store raises it after the change is committed.
/// Sessions always re-read the store, so a missed notification costs latency, never correctness. Writes by another
/// process (the admin CLI: a restore, an import) are published too: the store's writer notices them from SQLite's
/// data_version every couple of seconds while anyone is watching (see SqliteMailStore.CheckOtherProcessesWrites).
/// </summary>
public sealed class MailboxChangeBus
{
    private readonly Lock _gate = new();
    private readonly Dictionary<long, List<Action<long>>> _subscribers = [];

    /// <summary>Subscribes to changes of one mailbox; dispose the result to stop.</summary>
    public IDisposable Subscribe(long mailboxId, Action<long> onChange)
    {
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(mailboxId, out var list))
            {
                list = [];
                _subscribers[mailboxId] = list;
            }

            list.Add(onChange);
        }

        return new Subscription(this, mailboxId, onChange);
    }

    /// <summary>Mailboxes someone is watching right now (for the store's check on other processes' writes).</summary>
    public IReadOnlyList<long> WatchedMailboxes()
    {
        lock (_gate)
        {
            return [.. _subscribers.Keys];
        }
    }

    /// <summary>True when at least one mailbox is watched.</summary>
    public bool HasSubscribers
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count > 0;
            }
        }
    }

    /// <summary>Tells every subscriber of <paramref name="mailboxId"/> that it changed.</summary>
    public void Publish(long mailboxId)
    {
        Action<long>[] targets;
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(mailboxId, out var list) || list.Count == 0)
            {
                return;
            }

            targets = [.. list];
        }

        foreach (var t in targets)
        {
            t(mailboxId);
        }
    }

    private void Unsubscribe(long mailboxId, Action<long> onChange)
    {
        lock (_gate)
        {
            if (_subscribers.TryGetValue(mailboxId, out var list))
            {
                list.Remove(onChange);
                if (list.Count == 0)
                {
                    _subscribers.Remove(mailboxId);
                }
            }
        }
    }

    private sealed class Subscription(MailboxChangeBus bus, long mailboxId, Action<long> onChange) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                bus.Unsubscribe(mailboxId, onChange);
            }
        }
    }
}
