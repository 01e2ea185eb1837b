using System.Collections.Concurrent;
using System.Security.Cryptography;
using Rempart.Common.Configuration;

namespace Rempart.Monitoring.Reporting;

/// <summary>A logged-in administrator. <see cref="CsrfToken"/> must accompany every form the session posts.</summary>
public sealed record ReportSession(string Id, string Address, string CsrfToken, DateTimeOffset Created)
{
    internal DateTimeOffset LastSeen { get; set; }
}

/// <summary>
/// Report-page sessions, in memory only (a restart logs everyone out): a random 256-bit id per login, an idle
/// timeout and an absolute lifetime, and a cap on how many exist at once.
/// </summary>
public sealed class ReportSessions(ReportOptions options, TimeProvider? time = null)
{
    private readonly ConcurrentDictionary<string, ReportSession> _sessions = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _createLock = new();

    public int Count => _sessions.Count;

    /// <summary>A fresh 256-bit random token, URL- and cookie-safe.</summary>
    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public ReportSession Create(string address)
    {
        var now = _time.GetUtcNow();
        var session = new ReportSession(NewToken(), address, NewToken(), now) { LastSeen = now };
        lock (_createLock)
        {
            Sweep(now);
            while (_sessions.Count >= options.MaxSessions)
            {
                var oldest = _sessions.Values.MinBy(s => s.LastSeen);
                if (oldest is null)
                {
                    break;
                }

                _sessions.TryRemove(oldest.Id, out _);
            }

            _sessions[session.Id] = session;
        }

        return session;
    }

    /// <summary>The live session with that id (its idle clock restarts), or null.</summary>
    public ReportSession? Get(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length != 64 || !_sessions.TryGetValue(id, out var s))
        {
            return null;
        }

        var now = _time.GetUtcNow();
        if (Expired(s, now))
        {
            _sessions.TryRemove(id, out _);
            return null;
        }

        s.LastSeen = now;
        return s;
    }

    public bool Remove(string? id) => id is not null && _sessions.TryRemove(id, out _);

    /// <summary>True when <paramref name="presented"/> is the session's CSRF token (constant-time).</summary>
    public static bool CheckCsrf(ReportSession session, string? presented)
    {
        ArgumentNullException.ThrowIfNull(session);
        return TokensEqual(session.CsrfToken, presented);
    }

    /// <summary>Constant-time comparison of two tokens; false when either is missing.</summary>
    public static bool TokensEqual(string? expected, string? presented) =>
        !string.IsNullOrEmpty(expected) && !string.IsNullOrEmpty(presented) &&
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(expected), System.Text.Encoding.ASCII.GetBytes(presented));

    private bool Expired(ReportSession s, DateTimeOffset now) =>
        now - s.LastSeen > options.SessionIdleTimeout || now - s.Created > options.SessionLifetime;

    private void Sweep(DateTimeOffset now)
    {
        foreach (var s in _sessions.Values)
        {
            if (Expired(s, now))
            {
                _sessions.TryRemove(s.Id, out _);
            }
        }
    }
}
