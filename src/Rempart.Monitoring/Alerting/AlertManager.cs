using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Telemetry;

namespace Rempart.Monitoring.Alerting;

/// <summary>
/// Turns health transitions into notifications: one alert per monitor key (server/set/monitor) that fires when the
/// monitor becomes Unhealthy and resolves when it is Healthy again. Transitions are grouped for
/// <see cref="AlertingOptions.GroupWait"/> into one notification per channel; a firing alert is repeated every
/// <see cref="AlertingOptions.RepeatInterval"/> and escalated to later tiers until acknowledged; silenced alerts send
/// nothing. Everything that decides what was already sent is persisted (alerts.json) so a restart does not notify again.
/// Channel failures are retried with backoff and logged; nothing here throws into the health model.
/// </summary>
public sealed partial class AlertManager : IHealthTransitionSink, IAsyncDisposable
{
    private const string KeyFileName = "alert.key";

    private static readonly JsonSerializerOptions StateJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly AlertingOptions _options;
    private readonly string _server;
    private readonly string _stateFile;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly HttpClient _http;
    private readonly IReadOnlyList<AlertTierOptions> _tiers;
    private readonly Dictionary<string, IAlertChannel> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AlertRecord> _alerts = new(StringComparer.Ordinal);
    private readonly List<AlertSilence> _silences = [];
    private readonly List<PendingDelivery> _outbox = [];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly byte[] _secret;
    private readonly Task _loop;
    private DateTimeOffset? _batchDue;
    private int _disposed;

    /// <param name="options">The alerting configuration (validated).</param>
    /// <param name="serverName">Server name used in notifications and group keys.</param>
    /// <param name="email">Delivery for email channels; null where there is no server (email channels then fail).</param>
    /// <param name="stateFile">Where alerts, acknowledgements and silences are kept (the ack link key sits next to it).</param>
    /// <param name="time">Clock for grouping, repeats, escalation and silences.</param>
    /// <param name="log">Where channel failures and alert changes are logged (never secrets).</param>
    /// <param name="http">HTTP handler for webhook, alertmanager and SMS channels (tests); null for the default.</param>
    public AlertManager(AlertingOptions options, string serverName, IAlertEmailSender? email, string stateFile, TimeProvider time, ILogger log, HttpMessageHandler? http = null)
        : this(options, serverName, email, stateFile, time, log, http, runLoop: true)
    {
    }

    /// <summary>With <paramref name="runLoop"/> false nothing is sent until <see cref="TickAsync"/> is called (tests).</summary>
    internal AlertManager(AlertingOptions options, string serverName, IAlertEmailSender? email, string stateFile, TimeProvider time, ILogger log, HttpMessageHandler? http, bool runLoop)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(serverName);
        ArgumentException.ThrowIfNullOrEmpty(stateFile);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(log);
        var errors = options.Validate("alerting").ToList();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        _options = options;
        _server = serverName;
        _stateFile = Path.GetFullPath(stateFile);
        _time = time;
        _log = log;
        _http = http is null
            ? new HttpClient { Timeout = options.RequestTimeout }
            : new HttpClient(http, disposeHandler: false) { Timeout = options.RequestTimeout };
        _tiers = options.EffectiveTiers();
        foreach (var c in options.Channels)
        {
            _channels[c.Name] = AlertChannelFactory.Create(c, _http, email, options.FromAddress);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(_stateFile)!);
        _secret = LoadOrCreateSecret(Path.Combine(Path.GetDirectoryName(_stateFile)!, KeyFileName));
        Load();
        if (_alerts.Values.Any(a => !a.Firing || !a.TiersSent.ContainsKey(0)))
        {
            // Changes that were waiting for their group when the process stopped go out one group wait after start.
            _batchDue = time.GetUtcNow() + options.GroupWait;
        }

        _loop = runLoop ? Task.Run(RunAsync) : Task.CompletedTask;
    }

    /// <summary>The configured channel names.</summary>
    public IReadOnlyList<string> ChannelNames => [.. _channels.Keys];

    /// <summary>The alerts currently held (firing, or resolved with the resolution not yet sent).</summary>
    public IReadOnlyList<AlertView> Alerts
    {
        get
        {
            _gate.Wait();
            try
            {
                var now = _time.GetUtcNow();
                return [.. _alerts.Values.OrderBy(a => a.StartsAt).ThenBy(a => a.Key, StringComparer.Ordinal).Select(a => View(a, now))];
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>The silences that have not expired.</summary>
    public IReadOnlyList<AlertSilence> Silences
    {
        get
        {
            _gate.Wait();
            try
            {
                var now = _time.GetUtcNow();
                return [.. _silences.Where(s => s.ExpiresAt > now).OrderBy(s => s.ExpiresAt)];
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask OnTransitionAsync(HealthTransition transition, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(transition);
        try
        {
            await _gate.WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            Apply(transition);
            Save();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The health model must never see alerting's trouble.
            LogStateFailed(_log, ex.Message);
        }
        finally
        {
            _gate.Release();
        }

        _wake.Release();
    }

    private void Apply(HealthTransition t)
    {
        var now = _time.GetUtcNow();
        _alerts.TryGetValue(t.Key, out var a);
        switch (t.To)
        {
            case HealthState.Unhealthy when a is null:
                _alerts[t.Key] = new AlertRecord
                {
                    Key = t.Key,
                    Server = t.Server,
                    HealthSet = t.HealthSet,
                    Monitor = t.Monitor,
                    State = t.To,
                    Detail = t.Detail,
                    StartsAt = t.At,
                };
                _batchDue ??= now + _options.GroupWait;
                LogFired(_log, t.Key, t.Detail);
                break;
            case HealthState.Unhealthy:
                // Already firing (deduplicated), or flapped back before its resolution went out: no new notification.
                a.State = t.To;
                a.Detail = t.Detail;
                a.EndsAt = null;
                break;
            case HealthState.Healthy when a is { Firing: true }:
                a.State = t.To;
                a.Detail = t.Detail;
                a.EndsAt = t.At;
                LogResolved(_log, t.Key);
                if (a.TiersSent.Count == 0)
                {
                    // Nobody was told it fired (it flapped within the group wait, or was silenced): nothing to resolve.
                    _alerts.Remove(t.Key);
                }
                else
                {
                    _batchDue ??= now + _options.GroupWait;
                }

                break;
            case not HealthState.Healthy when a is { Firing: true }:
                // Degraded or Unknown after Unhealthy: still firing until Healthy.
                a.State = t.To;
                a.Detail = t.Detail;
                break;
            default:
                break;
        }
    }

    /// <summary>
    /// Sends whatever is due now: grouped new alerts and resolutions, escalations, repeats, and retries of failed
    /// deliveries. The background loop calls it every second; tests call it after moving a fake clock.
    /// </summary>
    internal async Task TickAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            Collect(_time.GetUtcNow());
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogStateFailed(_log, ex.Message);
        }
        finally
        {
            _gate.Release();
        }

        await DeliverDueAsync(ct);
    }

    private void Collect(DateTimeOffset now)
    {
        var batchReady = _batchDue is { } due && now >= due;
        if (batchReady)
        {
            _batchDue = null;
        }

        var changed = _silences.RemoveAll(s => s.ExpiresAt <= now) > 0;
        var perChannel = new Dictionary<string, Dictionary<string, NotifiedAlert>>(StringComparer.Ordinal);
        void Add(int tier, AlertRecord a, string status)
        {
            foreach (var name in _tiers[tier].Channels)
            {
                if (!perChannel.TryGetValue(name, out var set))
                {
                    perChannel[name] = set = new Dictionary<string, NotifiedAlert>(StringComparer.Ordinal);
                }

                set[a.Key] = new NotifiedAlert(a.Key, a.Server, a.HealthSet, a.Monitor, a.State, status, a.Detail, a.StartsAt, a.EndsAt,
                    status == "firing" ? AckUrl(a) : null);
            }
        }

        foreach (var a in _alerts.Values.ToList())
        {
            var silenced = _silences.Any(s => s.Matches(a.Key));
            if (!a.Firing)
            {
                if (silenced)
                {
                    _alerts.Remove(a.Key);
                    changed = true;
                }
                else if (batchReady || now >= a.EndsAt!.Value + _options.GroupWait)
                {
                    foreach (var tier in a.TiersSent.Keys)
                    {
                        Add(tier, a, "resolved");
                    }

                    _alerts.Remove(a.Key);
                    changed = true;
                }

                continue;
            }

            if (silenced)
            {
                continue;
            }

            for (var i = 0; i < _tiers.Count; i++)
            {
                var start = a.StartsAt + _tiers[i].After;
                bool send;
                if (a.TiersSent.TryGetValue(i, out var last))
                {
                    send = !a.Acknowledged && now >= last + _options.RepeatInterval;
                }
                else if (i == 0)
                {
                    send = now >= start && (batchReady || now >= start + _options.GroupWait);
                }
                else
                {
                    send = !a.Acknowledged && now >= start;
                }

                if (send)
                {
                    Add(i, a, "firing");
                    a.TiersSent[i] = now;
                    changed = true;
                }
            }
        }

        foreach (var (name, set) in perChannel)
        {
            var alerts = set.Values.OrderBy(x => x.Status == "firing" ? 0 : 1).ThenBy(x => x.Key, StringComparer.Ordinal).ToList();
            var status = alerts.Any(x => x.Status == "firing") ? "firing" : "resolved";
            var n = new AlertNotification(status, _server, GroupKey, _options.PublicUrl, alerts);
            lock (_outbox)
            {
                _outbox.Add(new PendingDelivery(_channels[name], n, 0, now));
            }
        }

        if (changed)
        {
            Save();
        }
    }

    private string GroupKey => "{}:{server=\"" + _server + "\"}";

    private async Task DeliverDueAsync(CancellationToken ct)
    {
        List<PendingDelivery> due;
        var now = _time.GetUtcNow();
        lock (_outbox)
        {
            due = _outbox.Where(d => d.DueAt <= now).ToList();
            _outbox.RemoveAll(d => d.DueAt <= now);
        }

        foreach (var d in due)
        {
            try
            {
                await d.Channel.SendAsync(d.Notification, ct);
                LogNotified(_log, d.Channel.Name, d.Notification.Status, d.Notification.Alerts.Count);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                var attempts = d.Attempts + 1;
                if (attempts >= _options.MaxAttempts)
                {
                    LogGaveUp(_log, d.Channel.Name, attempts, ex.Message);
                    continue;
                }

                var delay = _options.RetryDelay * Math.Pow(2, attempts - 1);
                LogChannelFailed(_log, d.Channel.Name, attempts, ex.Message, delay.TotalSeconds);
                lock (_outbox)
                {
                    _outbox.Add(d with { Attempts = attempts, DueAt = _time.GetUtcNow() + delay });
                }
            }
        }
    }

    /// <summary>Deliveries waiting for a retry (tests and `rempart alert list`).</summary>
    internal int PendingDeliveries
    {
        get
        {
            lock (_outbox)
            {
                return _outbox.Count;
            }
        }
    }

    /// <summary>Acknowledges a firing alert: stops its escalation and repeats (its resolution is still sent).</summary>
    /// <returns>The alert, or null when no alert with that key is firing.</returns>
    public async Task<AlertView?> AcknowledgeAsync(string key, string by, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(key);
        await _gate.WaitAsync(ct);
        try
        {
            if (!_alerts.TryGetValue(key, out var a) || !a.Firing)
            {
                return null;
            }

            if (!a.Acknowledged)
            {
                a.AckedAt = _time.GetUtcNow();
                a.AckedBy = by;
                Save();
                LogAcknowledged(_log, key, by);
            }

            return View(a, _time.GetUtcNow());
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Whether <paramref name="token"/> is the ack link token of the alert firing under <paramref name="key"/>.</summary>
    public bool CheckAckToken(string? key, string? token)
    {
        if (string.IsNullOrEmpty(key) || string.IsNullOrEmpty(token))
        {
            return false;
        }

        _gate.Wait();
        try
        {
            if (!_alerts.TryGetValue(key, out var a) || !a.Firing)
            {
                return false;
            }

            return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(AckToken(a)), Encoding.ASCII.GetBytes(token));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The acknowledge link of a firing alert, or null without a public URL.</summary>
    internal string? AckUrl(AlertRecord a) =>
        _options.PublicUrl is null
            ? null
            : $"{_options.PublicUrl.TrimEnd('/')}/alerts/ack?key={Uri.EscapeDataString(a.Key)}&t={AckToken(a)}";

    /// <summary>HMAC-SHA256 over key and start time: a link only acknowledges the alert instance it was sent for.</summary>
    private string AckToken(AlertRecord a)
    {
        var mac = HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(a.Key + "\n" + a.StartsAt.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Adds a silence for the alerts matching <paramref name="matcher"/> (exact key or glob).</summary>
    public async Task<AlertSilence> AddSilenceAsync(string matcher, TimeSpan duration, string comment, string by, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(matcher) || matcher.Length > 256)
        {
            throw new ArgumentException("the matcher must be an alert key or a glob such as mx1/store/* (at most 256 characters).", nameof(matcher));
        }

        if (duration <= TimeSpan.Zero || duration > TimeSpan.FromDays(366))
        {
            throw new ArgumentException("the duration must be positive and at most 366 days.", nameof(duration));
        }

        await _gate.WaitAsync(ct);
        try
        {
            var now = _time.GetUtcNow();
            var s = new AlertSilence(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), matcher.Trim(), now, now + duration, comment ?? "", by ?? "");
            _silences.Add(s);
            Save();
            LogSilenced(_log, s.Id, s.Matcher, s.ExpiresAt);
            return s;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Removes a silence; false when no silence has that id.</summary>
    public async Task<bool> RemoveSilenceAsync(string id, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var removed = _silences.RemoveAll(s => s.Id == id) > 0;
            if (removed)
            {
                Save();
                _wake.Release();
            }

            return removed;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Sends a test notification to one channel now, once; throws <see cref="AlertChannelException"/> on failure.</summary>
    public async Task SendTestAsync(string channel, CancellationToken ct)
    {
        if (!_channels.TryGetValue(channel, out var c))
        {
            throw new KeyNotFoundException($"no channel is named '{channel}'; channels: {string.Join(", ", _channels.Keys)}");
        }

        var now = _time.GetUtcNow();
        var test = new NotifiedAlert($"{_server}/test/notification", _server, "test", "notification", HealthState.Unhealthy, "firing",
            "test notification from rempart alert test", now, null, null);
        await c.SendAsync(new AlertNotification("firing", _server, GroupKey + ":test", _options.PublicUrl, [test]), ct);
    }

    private AlertView View(AlertRecord a, DateTimeOffset now) =>
        new(a.Key, a.Firing ? "firing" : "resolved", a.State, a.Detail, a.StartsAt, a.EndsAt, a.AckedBy, a.AckedAt,
            _silences.Any(s => s.ExpiresAt > now && s.Matches(a.Key)), [.. a.TiersSent.Keys.Order()]);

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await TickAsync(ct);
                await _wake.WaitAsync(TimeSpan.FromSeconds(1), ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogStateFailed(_log, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Load()
    {
        if (!File.Exists(_stateFile))
        {
            return;
        }

        try
        {
            var state = JsonSerializer.Deserialize<AlertStateFile>(File.ReadAllText(_stateFile), StateJson) ?? new AlertStateFile();
            foreach (var a in state.Alerts.Where(a => !string.IsNullOrEmpty(a.Key)))
            {
                // Tiers removed from the configuration since are forgotten.
                foreach (var t in a.TiersSent.Keys.Where(t => t < 0 || t >= _tiers.Count).ToList())
                {
                    a.TiersSent.Remove(t);
                }

                _alerts[a.Key] = a;
            }

            _silences.AddRange(state.Silences);
        }
        catch (Exception ex) when (ex is JsonException or IOException or NotSupportedException)
        {
            // A damaged state file must not stop alerting; keep it aside for inspection.
            LogStateFailed(_log, $"{_stateFile} unreadable ({ex.Message}); starting with no alerts, kept as .bad");
            File.Move(_stateFile, _stateFile + ".bad", overwrite: true);
        }
    }

    /// <summary>Writes the state atomically: temp file, fsync, rename over the old one.</summary>
    private void Save()
    {
        var state = new AlertStateFile { Alerts = [.. _alerts.Values], Silences = [.. _silences] };
        var tmp = _stateFile + ".tmp";
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(f, state, StateJson);
                f.Flush(flushToDisk: true);
            }

            File.Move(tmp, _stateFile, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogStateFailed(_log, $"cannot write {_stateFile}: {ex.Message}");
        }
    }

    private static byte[] LoadOrCreateSecret(string path)
    {
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path).Trim();
            if (text.Length >= 32)
            {
                return Convert.FromHexString(text);
            }
        }

        var secret = RandomNumberGenerator.GetBytes(32);
        var tmp = path + ".tmp";
        File.Delete(tmp);
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var f = new FileStream(tmp, fileOptions))
        {
            f.Write(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(secret) + "\n"));
            f.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
        return secret;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop;
        _http.Dispose();
        _stop.Dispose();
        _gate.Dispose();
        _wake.Dispose();
    }

    private sealed record PendingDelivery(IAlertChannel Channel, AlertNotification Notification, int Attempts, DateTimeOffset DueAt);

    [LoggerMessage(EventId = (int)EventIds.AlertFired, Level = LogLevel.Warning, Message = "Alert {Key} firing: {Detail}")]
    private static partial void LogFired(ILogger logger, string key, string detail);

    [LoggerMessage(EventId = (int)EventIds.AlertResolved, Level = LogLevel.Information, Message = "Alert {Key} resolved")]
    private static partial void LogResolved(ILogger logger, string key);

    [LoggerMessage(EventId = (int)EventIds.AlertNotified, Level = LogLevel.Information, Message = "Alert notification ({Status}, {Count} alert(s)) sent to channel {Channel}")]
    private static partial void LogNotified(ILogger logger, string channel, string status, int count);

    [LoggerMessage(EventId = (int)EventIds.AlertChannelFailed, Level = LogLevel.Warning, Message = "Alert channel {Channel} failed (attempt {Attempt}): {Reason}; retrying in {Seconds:0.#} s")]
    private static partial void LogChannelFailed(ILogger logger, string channel, int attempt, string reason, double seconds);

    [LoggerMessage(EventId = (int)EventIds.AlertChannelGaveUp, Level = LogLevel.Error, Message = "Alert channel {Channel} failed {Attempts} times, notification dropped: {Reason}")]
    private static partial void LogGaveUp(ILogger logger, string channel, int attempts, string reason);

    [LoggerMessage(EventId = (int)EventIds.AlertAcknowledged, Level = LogLevel.Information, Message = "Alert {Key} acknowledged by {By}")]
    private static partial void LogAcknowledged(ILogger logger, string key, string by);

    [LoggerMessage(EventId = (int)EventIds.AlertSilenced, Level = LogLevel.Information, Message = "Silence {Id} for {Matcher} until {Expires}")]
    private static partial void LogSilenced(ILogger logger, string id, string matcher, DateTimeOffset expires);

    [LoggerMessage(EventId = (int)EventIds.AlertStateFailed, Level = LogLevel.Error, Message = "Alerting state: {Reason}")]
    private static partial void LogStateFailed(ILogger logger, string reason);
}
