using System.Collections.Concurrent;

namespace Rempart.Protection.Reputation;

/// <summary>
/// Counts events per key over a sliding window (the current fixed window plus the previous one weighted by how much
/// of it still overlaps), the way most MTAs' rate limits behave. Bounded: idle keys are dropped.
/// </summary>
public sealed class RateLimiter
{
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.OrdinalIgnoreCase);
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private long _lastSweep;

    public RateLimiter(TimeSpan window, TimeProvider? time = null)
    {
        _window = window;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Adds <paramref name="count"/> when the key stays within <paramref name="limit"/>; false (nothing added) otherwise. A limit of 0 means none.</summary>
    public bool TryAcquire(string key, int limit, int count = 1)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (limit <= 0)
        {
            return true;
        }

        var now = _time.GetUtcNow().UtcTicks;
        Sweep(now);
        var w = _windows.GetOrAdd(key, _ => new Window());
        lock (w)
        {
            w.Roll(now, _window.Ticks);
            var elapsed = (double)(now - w.Start) / _window.Ticks;
            var estimate = (w.Previous * (1 - elapsed)) + w.Current;
            if (estimate + count > limit)
            {
                return false;
            }

            w.Current += count;
            return true;
        }
    }

    private void Sweep(long now)
    {
        var last = Interlocked.Read(ref _lastSweep);
        if (now - last < _window.Ticks || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        foreach (var (key, w) in _windows)
        {
            if (now - w.Start > 2 * _window.Ticks)
            {
                _windows.TryRemove(key, out _);
            }
        }
    }

    private sealed class Window
    {
        public long Start { get; private set; }

        public long Previous { get; private set; }

        public long Current { get; set; }

        public void Roll(long now, long length)
        {
            if (Start == 0)
            {
                Start = now;
                return;
            }

            var windows = (now - Start) / length;
            if (windows == 0)
            {
                return;
            }

            Previous = windows == 1 ? Current : 0;
            Current = 0;
            Start += windows * length;
        }
    }
}
