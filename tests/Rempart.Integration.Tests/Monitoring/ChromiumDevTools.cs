using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// A minimal Chrome DevTools Protocol client for Debian's headless chromium: launches the browser with its own
/// profile folder, attaches to one page (flat session mode) and sends commands as JSON over a WebSocket. Every wait
/// is bounded; disposal kills the browser and deletes the profile.
/// </summary>
public sealed class ChromiumDevTools : IAsyncDisposable
{
    public const string DefaultPath = "/usr/bin/chromium";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _ws = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly StringBuilder _log = new();
    private Task _reader = Task.CompletedTask;
    private int _nextId;
    private string? _session;

    private ChromiumDevTools(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>What chromium wrote on stderr (for failure messages).</summary>
    public string BrowserLog
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts chromium, connects to it and opens a blank page to drive.</summary>
    public static async Task<ChromiumDevTools> LaunchAsync(string path = DefaultPath, TimeSpan? startTimeout = null)
    {
        var profile = Path.Combine(Path.GetTempPath(), "rempart-chromium-" + Guid.NewGuid().ToString("n")[..10]);
        Directory.CreateDirectory(profile);
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--headless=new", "--no-sandbox", "--remote-debugging-port=0", "--user-data-dir=" + profile,
            "--ignore-certificate-errors", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-background-networking", "--disable-extensions", "--window-size=1280,1700",
            "about:blank",
        })
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + path);
        var browser = new ChromiumDevTools(process, profile);
        var wsUrl = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                wsUrl.TrySetException(new InvalidOperationException("chromium closed stderr before announcing DevTools:\n" + browser.BrowserLog));
                return;
            }

            lock (browser._log)
            {
                browser._log.AppendLine(e.Data);
            }

            const string marker = "DevTools listening on ";
            var i = e.Data.IndexOf(marker, StringComparison.Ordinal);
            if (i >= 0)
            {
                wsUrl.TrySetResult(e.Data[(i + marker.Length)..].Trim());
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var url = await wsUrl.Task.WaitAsync(startTimeout ?? TimeSpan.FromSeconds(30));
            using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await browser._ws.ConnectAsync(new Uri(url), connect.Token);
            browser._reader = Task.Run(browser.ReadLoopAsync);

            var target = await browser.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, browserLevel: true);
            var targetId = target.GetProperty("targetId").GetString()!;
            var attach = await browser.SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = targetId, ["flatten"] = true }, browserLevel: true);
            browser._session = attach.GetProperty("sessionId").GetString();
            await browser.SendAsync("Page.enable");
            await browser.SendAsync("Runtime.enable");
            await browser.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject
            {
                ["width"] = 1280, ["height"] = 1700, ["deviceScaleFactor"] = 1, ["mobile"] = false,
            });
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends one command (to the page unless <paramref name="browserLevel"/>) and returns its result.</summary>
    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters = null, bool browserLevel = false, TimeSpan? timeout = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (!browserLevel)
        {
            message["sessionId"] = _session ?? throw new InvalidOperationException("no page attached");
        }

        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _sendLock.WaitAsync();
        try
        {
            using var send = new CancellationTokenSource(CommandTimeout);
            await _ws.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, send.Token);
        }
        finally
        {
            _sendLock.Release();
        }

        try
        {
            var result = await reply.Task.WaitAsync(timeout ?? CommandTimeout);
            return result;
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"chromium did not answer {method} in time\n{BrowserLog}");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (_ws.State == WebSocketState.Open && !_stop.IsCancellationRequested)
            {
                var r = await _ws.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage)
                {
                    // Screenshots arrive as one large message; cap it so a runaway browser cannot eat the memory.
                    if (message.Length > 64 * 1024 * 1024)
                    {
                        throw new InvalidOperationException("DevTools message over 64 MiB");
                    }

                    continue;
                }

                using var doc = JsonDocument.Parse(message.ToArray());
                message.SetLength(0);
                var root = doc.RootElement;
                if (root.TryGetProperty("id", out var idProp) && _pending.TryGetValue(idProp.GetInt32(), out var waiter))
                {
                    if (root.TryGetProperty("error", out var error))
                    {
                        waiter.TrySetException(new InvalidOperationException("DevTools error: " + error.GetRawText()));
                    }
                    else
                    {
                        waiter.TrySetResult(root.GetProperty("result").Clone());
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or JsonException or InvalidOperationException)
        {
            foreach (var p in _pending.Values)
            {
                p.TrySetException(new InvalidOperationException("DevTools connection lost: " + ex.Message));
            }
        }
    }

    /// <summary>Runs JavaScript in the page (promises awaited) and returns its JSON value.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var r = await SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true,
        });
        if (r.TryGetProperty("exceptionDetails", out var ex))
        {
            throw new InvalidOperationException("page script failed: " + ex.GetRawText());
        }

        return r.GetProperty("result").TryGetProperty("value", out var v) ? v.Clone() : default;
    }

    public async Task<string> EvaluateStringAsync(string expression)
    {
        var v = await EvaluateAsync(expression);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : v.ValueKind == JsonValueKind.Undefined ? "" : v.GetRawText();
    }

    /// <summary>Polls <paramref name="expression"/> until it is truthy; returns false after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForAsync(string expression, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var v = await EvaluateAsync("!!(" + expression + ")");
                if (v.ValueKind == JsonValueKind.True)
                {
                    return true;
                }
            }
            catch (InvalidOperationException)
            {
                // A navigation destroyed the context mid-evaluation: try again.
            }

            await Task.Delay(200);
        }

        return false;
    }

    /// <summary>Navigates and waits (bounded) until the new document has loaded.</summary>
    public async Task NavigateAsync(string url, TimeSpan? timeout = null)
    {
        var r = await SendAsync("Page.navigate", new JsonObject { ["url"] = url });
        if (r.TryGetProperty("errorText", out var err) && err.GetString() is { Length: > 0 } text)
        {
            throw new InvalidOperationException($"navigation to {url} failed: {text}");
        }

        await WaitLoadedAsync(timeout);
    }

    /// <summary>Waits until the page's document is complete (after a navigation or a form post).</summary>
    public async Task WaitLoadedAsync(TimeSpan? timeout = null)
    {
        await Task.Delay(100);
        if (!await WaitForAsync("document.readyState === 'complete'", timeout ?? TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("page did not finish loading: " + await EvaluateStringAsync("location.href"));
        }
    }

    /// <summary>A PNG of the page as rendered now.</summary>
    public async Task<byte[]> ScreenshotAsync()
    {
        var r = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true }, timeout: TimeSpan.FromSeconds(60));
        return Convert.FromBase64String(r.GetProperty("data").GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(wait.Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
        }

        try
        {
            await _reader.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
        }

        _ws.Dispose();
        _process.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
