using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Rempart.Monitoring.Tests.Alerting;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// What the health break tests share: a fast health configuration (checks every second, 2 s grace), a webhook
/// receiver for the alerts, and polling of /api/health with the admin token.
/// </summary>
internal static class HealthTestKit
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(90);

    /// <summary>Fast health model plus a webhook alert channel to <paramref name="hook"/>; the https listener on its own free port.</summary>
    public static void Configure(JsonObject c, WebhookReceiver hook, Action<JsonObject>? health = null)
    {
        c["listeners"]!["https"] = new JsonObject { ["port"] = ServerProcess.FreePort() };
        var h = new JsonObject
        {
            ["interval"] = "00:00:01",
            ["grace"] = "00:00:02",
            ["failuresBeforeUnhealthy"] = 2,
            ["probeDeadline"] = "00:00:05",
            ["checkDeadline"] = "00:00:30",
            ["mailFlow"] = new JsonObject { ["probe"] = false },
            ["store"] = new JsonObject { ["enabled"] = false },
            ["protection"] = new JsonObject { ["enabled"] = false },
        };
        health?.Invoke(h);
        c["monitoring"] = new JsonObject
        {
            ["serverName"] = "it",
            ["health"] = h,
            ["alerting"] = new JsonObject
            {
                ["groupWait"] = "00:00:00",
                ["repeatInterval"] = "04:00:00",
                ["channels"] = new JsonArray(new JsonObject { ["name"] = "hook", ["type"] = "webhook", ["url"] = hook.Url }),
            },
        };
    }

    public static async Task<JsonNode> ReportAsync(ServerProcess server)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var token = (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "admin-api.token"))).Trim();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{server.Port("http")}/api/health"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"/api/health answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Polls until the monitor is in <paramref name="state"/>; fails with the last report after <see cref="WaitLimit"/>.</summary>
    public static async Task<JsonNode> WaitForAsync(ServerProcess server, string set, string monitor, string state)
    {
        var clock = Stopwatch.StartNew();
        JsonNode? last = null;
        while (clock.Elapsed < WaitLimit)
        {
            last = await ReportAsync(server);
            var m = last["monitors"]!.AsArray().FirstOrDefault(x => (string?)x!["healthSet"] == set && (string?)x["monitor"] == monitor);
            if (m is not null && (string?)m["state"] == state)
            {
                return m;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"{set}/{monitor} did not become {state} within {WaitLimit.TotalSeconds} s; last report:\n{last?.ToJsonString()}\nserver output:\n{server.Output}");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>openssl-made self-signed certificate for localhost valid <paramref name="days"/> days, written over the two files.</summary>
    public static async Task WriteCertificateAsync(string certPath, string keyPath, int days)
    {
        var tmpCert = certPath + ".new";
        var tmpKey = keyPath + ".new";
        var psi = new ProcessStartInfo("openssl") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", days.ToString(CultureInfo.InvariantCulture),
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", tmpKey, "-out", tmpCert })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, "openssl failed: " + await err);

        // Key first: the server reloads when the certificate file changes and must find the matching key.
        File.Move(tmpKey, keyPath, overwrite: true);
        File.Move(tmpCert, certPath, overwrite: true);
    }
}

/// <summary>The webhook alert bodies the shared loopback receiver (AlertingReceiver) collected on /hook/.</summary>
internal sealed class WebhookReceiver : IDisposable
{
    private readonly AlertingReceiver _receiver = new();

    public string Url => _receiver.Url + "/hook/";

    /// <summary>Every alert of every notification received so far for <paramref name="key"/>, as (status) in arrival order.</summary>
    public List<string> StatusesFor(string key)
    {
        return [.. _receiver.At("/hook/").Select(r => JsonNode.Parse(r.Body)!)
            .SelectMany(b => b["alerts"]!.AsArray())
            .Where(a => (string?)a!["key"] == key)
            .Select(a => (string?)a!["status"] ?? "")];
    }

    /// <summary>Waits (bounded) until <paramref name="key"/> has at least <paramref name="count"/> notifications.</summary>
    public async Task<List<string>> WaitForAsync(string key, int count)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30) && StatusesFor(key).Count < count)
        {
            await Task.Delay(100);
        }

        return StatusesFor(key);
    }

    public void Dispose() => _receiver.Dispose();
}
