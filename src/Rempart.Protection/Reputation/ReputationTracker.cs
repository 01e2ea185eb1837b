using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Rempart.Common.Configuration;

namespace Rempart.Protection.Reputation;

/// <summary>What was seen from a sender address.</summary>
public enum ReputationSignal
{
    /// <summary>A message that passed as clean.</summary>
    Ham,

    /// <summary>A message classified as spam (Junk, quarantine or reject).</summary>
    Spam,

    /// <summary>A message carrying malware or a blocked attachment.</summary>
    Malware,

    /// <summary>A RCPT for an address that does not exist (directory harvesting).</summary>
    UnknownRecipient,

    /// <summary>A failed AUTH attempt.</summary>
    AuthFailure,
}

/// <summary>A sender's standing: 0 is good, 1 is as bad as it gets.</summary>
/// <param name="Volume">Decayed count of everything seen (messages, refused recipients, auth failures).</param>
public sealed record ReputationScore(double Score, double Volume, string Scope)
{
    public static readonly ReputationScore Neutral = new(0, 0, "none");
}

/// <summary>One key's decayed counters, as saved to and loaded from <see cref="ReputationFile"/>.</summary>
public sealed record ReputationEntry(string Key, double Ham, double Spam, double Malware, double UnknownRecipients, double AuthFailures, DateTimeOffset LastSeen);

/// <summary>
/// Our own IP reputation, built from what this server saw: per address and per network (/24 for IPv4, /64 for
/// IPv6, so a spammer hopping inside its block keeps its record). Counters decay with a one-day half-life, so a
/// reformed sender recovers. Nothing is scored until <see cref="ConnectionFilterOptions.ReputationMinimumVolume"/>
/// events were seen: a new sender starts neutral. Kept in memory and bounded in size (least recently seen dropped);
/// the server saves it to the data folder every few minutes and at shutdown, and loads it at start
/// (<see cref="ReputationFile"/>), so a restart does not give a known spammer a clean slate.
/// </summary>
public sealed class ReputationTracker
{
    private static readonly TimeSpan HalfLife = TimeSpan.FromDays(1);
    private readonly ConcurrentDictionary<string, Counters> _entries = new(StringComparer.Ordinal);
    private readonly ConnectionFilterOptions _options;
    private readonly TimeProvider _time;
    private readonly int _maxEntries;

    public ReputationTracker(ConnectionFilterOptions options, TimeProvider? time = null, int maxEntries = 200_000)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time ?? TimeProvider.System;
        _maxEntries = maxEntries;
    }

    /// <summary>Tracked keys (addresses and networks).</summary>
    public int Count => _entries.Count;

    public void Record(IPAddress address, ReputationSignal signal)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (IPAddress.IsLoopback(address))
        {
            // Local tools and tests connect from loopback; never build a reputation for it.
            return;
        }

        var now = _time.GetUtcNow();
        var (host, network) = Keys(address);
        foreach (var key in new[] { host, network })
        {
            var c = _entries.GetOrAdd(key, _ => new Counters());
            lock (c)
            {
                c.Decay(now);
                c.Add(signal);
            }
        }

        if (_entries.Count > _maxEntries)
        {
            Evict();
        }
    }

    /// <summary>The worse of the address's and its network's standing.</summary>
    public ReputationScore Get(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var now = _time.GetUtcNow();
        var best = ReputationScore.Neutral;
        var (host, network) = Keys(address);
        foreach (var (key, scope) in new[] { (host, "address"), (network, "network") })
        {
            if (!_entries.TryGetValue(key, out var c))
            {
                continue;
            }

            ReputationScore score;
            lock (c)
            {
                c.Decay(now);
                score = new ReputationScore(c.Volume < _options.ReputationMinimumVolume ? 0 : c.Score, c.Volume, scope);
            }

            if (score.Score > best.Score || (best.Scope == "none" && score.Volume > 0))
            {
                best = score;
            }
        }

        return best;
    }

    /// <summary>Every tracked key's counters (for saving).</summary>
    public IReadOnlyList<ReputationEntry> Export()
    {
        var list = new List<ReputationEntry>(_entries.Count);
        foreach (var (key, c) in _entries)
        {
            lock (c)
            {
                list.Add(c.ToEntry(key));
            }
        }

        return list;
    }

    /// <summary>
    /// Adds saved counters (at start, before any traffic). Entries with an unknown key form or counters that are not
    /// finite non-negative numbers are skipped; returns how many were taken.
    /// </summary>
    public int Import(IEnumerable<ReputationEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var taken = 0;
        foreach (var e in entries)
        {
            if (e is null || !IsValidKey(e.Key) || !Counters.TryCreate(e, out var counters))
            {
                continue;
            }

            _entries[e.Key] = counters;
            taken++;
        }

        if (_entries.Count > _maxEntries)
        {
            Evict();
        }

        return taken;
    }

    private static bool IsValidKey(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 64)
        {
            return false;
        }

        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return IPAddress.TryParse(slash < 0 ? key : key[..slash], out _) && (slash < 0 || key[(slash + 1)..] is "24" or "64");
    }

    /// <summary>The address and its /24 (IPv4) or /64 (IPv6) network.</summary>
    internal static (string Host, string Network) Keys(IPAddress address)
    {
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        var bytes = a.GetAddressBytes();
        if (a.AddressFamily == AddressFamily.InterNetwork)
        {
            return (a.ToString(), $"{bytes[0]}.{bytes[1]}.{bytes[2]}.0/24");
        }

        for (var i = 8; i < bytes.Length; i++)
        {
            bytes[i] = 0;
        }

        return (a.ToString(), new IPAddress(bytes) + "/64");
    }

    private void Evict()
    {
        // Drop the least recently seen tenth; cheap enough at this size and rare.
        var victims = _entries.OrderBy(e => e.Value.LastSeen).Take(_entries.Count / 10 + 1).Select(e => e.Key).ToList();
        foreach (var key in victims)
        {
            _entries.TryRemove(key, out _);
        }
    }

    private sealed class Counters
    {
        private double _ham;
        private double _spam;
        private double _malware;
        private double _unknown;
        private double _auth;

        public DateTimeOffset LastSeen { get; private set; }

        public static bool TryCreate(ReputationEntry e, out Counters counters)
        {
            counters = new Counters { _ham = e.Ham, _spam = e.Spam, _malware = e.Malware, _unknown = e.UnknownRecipients, _auth = e.AuthFailures, LastSeen = e.LastSeen };
            return new[] { e.Ham, e.Spam, e.Malware, e.UnknownRecipients, e.AuthFailures }.All(v => double.IsFinite(v) && v >= 0);
        }

        public ReputationEntry ToEntry(string key) => new(key, _ham, _spam, _malware, _unknown, _auth, LastSeen);

        public double Volume => _ham + _spam + _malware + _unknown + _auth;

        /// <summary>Share of bad events, malware weighing double, harvesting and auth failures half.</summary>
        public double Score
        {
            get
            {
                var bad = _spam + (2 * _malware) + (0.5 * _unknown) + (0.5 * _auth);
                var total = _ham + _spam + (2 * _malware) + (0.5 * _unknown) + (0.5 * _auth);
                return total <= 0 ? 0 : Math.Clamp(bad / total, 0, 1);
            }
        }

        public void Decay(DateTimeOffset now)
        {
            if (LastSeen != default && now > LastSeen)
            {
                var factor = Math.Pow(0.5, (now - LastSeen) / HalfLife);
                _ham *= factor;
                _spam *= factor;
                _malware *= factor;
                _unknown *= factor;
                _auth *= factor;
            }

            LastSeen = now;
        }

        public void Add(ReputationSignal signal)
        {
            switch (signal)
            {
                case ReputationSignal.Ham: _ham++; break;
                case ReputationSignal.Spam: _spam++; break;
                case ReputationSignal.Malware: _malware++; break;
                case ReputationSignal.UnknownRecipient: _unknown++; break;
                default: _auth++; break;
            }
        }
    }
}
