namespace Rempart.Monitoring.Reporting;

/// <summary>
/// A fixed-capacity buffer that keeps the newest items: memory is bounded whatever the uptime. Not thread-safe;
/// <see cref="ReportSampler"/> locks around it.
/// </summary>
public sealed class RingBuffer<T>
{
    private readonly T[] _items;
    private int _start;

    public RingBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _items = new T[capacity];
    }

    public int Capacity => _items.Length;

    public int Count { get; private set; }

    /// <summary>Appends; when full, the oldest item is overwritten.</summary>
    public void Add(T item)
    {
        if (Count < _items.Length)
        {
            _items[(_start + Count) % _items.Length] = item;
            Count++;
        }
        else
        {
            _items[_start] = item;
            _start = (_start + 1) % _items.Length;
        }
    }

    /// <summary>The item <paramref name="index"/> places after the oldest one.</summary>
    public T this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            return _items[(_start + index) % _items.Length];
        }
    }

    /// <summary>The newest <paramref name="max"/> items (all when fewer), oldest first.</summary>
    public List<T> Last(int max)
    {
        var n = Math.Clamp(max, 0, Count);
        var list = new List<T>(n);
        for (var i = Count - n; i < Count; i++)
        {
            list.Add(this[i]);
        }

        return list;
    }
}
