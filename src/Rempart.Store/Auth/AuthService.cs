using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Telemetry;

namespace Rempart.Store.Auth;

/// <summary>
/// Authentication for every protocol: Argon2id verification and fail2ban-style throttling.
/// <list type="bullet">
/// <item>Per address: <see cref="AuthOptions.MaxFailuresPerIp"/> failures within <see cref="AuthOptions.FailureWindow"/>
/// ban it for <see cref="AuthOptions.BanDuration"/>; each repeat ban lasts <see cref="AuthOptions.RepeatBanFactor"/>
/// times longer, up to <see cref="AuthOptions.MaxBanDuration"/>. A banned address is refused without a password check.</item>
/// <item>Per account: <see cref="AuthOptions.MaxFailuresPerAccount"/> failures within the window lock the account for
/// the ban duration (password spraying from many addresses); a success resets the account's counter.</item>
/// <item>Trusted networks are never throttled.</item>
/// </list>
/// Unknown users cost the same Argon2id work as known ones so timing does not reveal which accounts exist.
/// </summary>
public sealed partial class AuthService : IAuthService, IDisposable
{
    private readonly IDirectoryStore _directory;
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IPNetwork[] _trusted;
    private readonly ConcurrentDictionary<IPAddress, Tracker> _ips = new();
    private readonly ConcurrentDictionary<string, Tracker> _accounts = new(StringComparer.OrdinalIgnoreCase);

    // Argon2id is deliberately expensive: bound how many run at once so a login flood cannot starve the server.
    private readonly SemaphoreSlim _hashSlots = new(Math.Max(2, Environment.ProcessorCount));
    private readonly string _dummyHash;

    public AuthService(IDirectoryStore directory, AuthOptions options, ILogger<AuthService> logger, TimeProvider? time = null)
    {
        _directory = directory;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _trusted = [.. options.TrustedNetworks.Select(n => IPNetwork.Parse(n))];
        _dummyHash = new PasswordHasher(options.Argon2MemoryKib, options.Argon2Iterations, options.Argon2Parallelism).Hash(Guid.NewGuid().ToString());
    }

    public void Dispose() => _hashSlots.Dispose();

    /// <summary>Called with the client address after each failed attempt from an untrusted network (IP reputation listens).</summary>
    public Action<IPAddress>? FailureObserved { get; set; }

    public bool IsBanned(IPAddress remote)
    {
        remote = Normalize(remote);
        return !IsTrusted(remote) && _ips.TryGetValue(remote, out var t) && t.IsBanned(_time.GetUtcNow());
    }

    public async Task<AuthResult> AuthenticateAsync(string username, string password, IPAddress remote, string protocol, CancellationToken ct = default)
    {
        remote = Normalize(remote);
        var now = _time.GetUtcNow();
        var trusted = IsTrusted(remote);
        username = username.Trim();

        if (!trusted && (IsBanned(remote) || (_accounts.TryGetValue(username, out var acct) && acct.IsBanned(now))))
        {
            RempartMetrics.AuthAttempts.WithLabels(protocol, "throttled").Inc();
            LogThrottled(_logger, protocol, remote, username);
            return new AuthResult(AuthOutcome.Throttled, null);
        }

        var account = username.Contains('@', StringComparison.Ordinal) && username.Length <= 320
            ? await _directory.GetAccountAsync(username, ct)
            : null;

        bool ok;
        await _hashSlots.WaitAsync(ct);
        try
        {
            ok = PasswordHasher.Verify(password, account?.PasswordHash ?? _dummyHash) && account is not null;
        }
        finally
        {
            _hashSlots.Release();
        }

        if (ok && account!.Disabled)
        {
            RempartMetrics.AuthAttempts.WithLabels(protocol, "disabled").Inc();
            LogFailed(_logger, protocol, remote, username, "account disabled");
            return new AuthResult(AuthOutcome.Disabled, null);
        }

        if (ok)
        {
            _accounts.TryRemove(username, out _);
            RempartMetrics.AuthAttempts.WithLabels(protocol, "success").Inc();
            LogSucceeded(_logger, protocol, remote, account!.Address);
            return new AuthResult(AuthOutcome.Success, account);
        }

        RempartMetrics.AuthAttempts.WithLabels(protocol, "failure").Inc();
        LogFailed(_logger, protocol, remote, username, "bad credentials");
        if (!trusted)
        {
            FailureObserved?.Invoke(remote);
            var ipTracker = _ips.GetOrAdd(remote, _ => new Tracker());
            if (ipTracker.RecordFailure(now, _options.FailureWindow, _options.MaxFailuresPerIp, _options, out var banFor))
            {
                RempartMetrics.Bans.Inc();
                LogBanned(_logger, remote, banFor);
            }

            // Only track accounts that exist, so random names cannot grow the table without bound.
            if (account is not null)
            {
                var accTracker = _accounts.GetOrAdd(username, _ => new Tracker());
                if (accTracker.RecordFailure(now, _options.FailureWindow, _options.MaxFailuresPerAccount, _options, out var lockFor))
                {
                    LogLocked(_logger, account.Address, lockFor);
                }
            }

            Prune(now);
        }

        return new AuthResult(AuthOutcome.BadCredentials, null);
    }

    private bool IsTrusted(IPAddress ip)
    {
        foreach (var n in _trusted)
        {
            if (n.Contains(ip))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress Normalize(IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;

    // Keeps the trackers bounded: forget entries with no recent failure and no active ban.
    private void Prune(DateTimeOffset now)
    {
        if (_ips.Count < 10_000)
        {
            return;
        }

        foreach (var (ip, t) in _ips)
        {
            if (t.IsStale(now, _options.FailureWindow))
            {
                _ips.TryRemove(ip, out _);
            }
        }
    }

    [LoggerMessage(EventId = (int)EventIds.AuthSucceeded, Level = LogLevel.Information, Message = "{Protocol} login from {Remote} as {Account}")]
    private static partial void LogSucceeded(ILogger logger, string protocol, IPAddress remote, string account);

    [LoggerMessage(EventId = (int)EventIds.AuthFailed, Level = LogLevel.Warning, Message = "{Protocol} login failed from {Remote} for {User}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string protocol, IPAddress remote, string user, string reason);

    [LoggerMessage(EventId = (int)EventIds.AuthFailed, Level = LogLevel.Warning, Message = "{Protocol} login refused from {Remote} for {User}: throttled")]
    private static partial void LogThrottled(ILogger logger, string protocol, IPAddress remote, string user);

    [LoggerMessage(EventId = (int)EventIds.AddressBanned, Level = LogLevel.Warning, Message = "Banned {Remote} for {Duration} after repeated authentication failures")]
    private static partial void LogBanned(ILogger logger, IPAddress remote, TimeSpan duration);

    [LoggerMessage(EventId = (int)EventIds.AccountLocked, Level = LogLevel.Warning, Message = "Locked account {Account} for {Duration} after repeated authentication failures")]
    private static partial void LogLocked(ILogger logger, string account, TimeSpan duration);

    /// <summary>Failure times in the window, the current ban and how many bans came before (for repeat offenders).</summary>
    private sealed class Tracker
    {
        private readonly Queue<DateTimeOffset> _failures = new();
        private DateTimeOffset _bannedUntil;
        private int _bans;

        public bool IsBanned(DateTimeOffset now)
        {
            lock (_failures)
            {
                return now < _bannedUntil;
            }
        }

        public bool IsStale(DateTimeOffset now, TimeSpan window)
        {
            lock (_failures)
            {
                return now >= _bannedUntil && (_failures.Count == 0 || now - _failures.Last() > window) && _bans == 0;
            }
        }

        /// <summary>Records a failure; returns true (and the ban length) when it starts a ban.</summary>
        public bool RecordFailure(DateTimeOffset now, TimeSpan window, int max, AuthOptions o, out TimeSpan banFor)
        {
            lock (_failures)
            {
                _failures.Enqueue(now);
                while (_failures.Count > 0 && now - _failures.Peek() > window)
                {
                    _failures.Dequeue();
                }

                banFor = TimeSpan.Zero;
                if (_failures.Count < max)
                {
                    return false;
                }

                var factor = Math.Pow(o.RepeatBanFactor, _bans);
                var ticks = Math.Min(o.BanDuration.Ticks * factor, o.MaxBanDuration.Ticks);
                banFor = TimeSpan.FromTicks((long)ticks);
                _bannedUntil = now + banFor;
                _bans++;
                _failures.Clear();
                return true;
            }
        }
    }
}
