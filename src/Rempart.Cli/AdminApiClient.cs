using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Rempart.Cli.Commands;
using Rempart.Server;

namespace Rempart.Cli;

/// <summary>
/// Talks to the running server's admin HTTP API (/api/...) on its HTTP listener, with the bearer token the server
/// wrote to the data folder (<see cref="DataFolder.AdminTokenPath"/>). Used by commands that need the live server's
/// state (health, alerts) rather than the store.
/// </summary>
internal sealed class AdminApiClient : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);
    private readonly HttpClient _http;

    private AdminApiClient(Uri baseUri, string token)
    {
        _http = new HttpClient { BaseAddress = baseUri, Timeout = RequestTimeout };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Uri BaseAddress => _http.BaseAddress!;

    /// <summary>Finds the HTTP listener and the token; a clear error when the server is not running here.</summary>
    public static AdminApiClient Connect(CliContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var http = ctx.Options.Listeners.Http;
        if (!http.Enabled || http.Addresses.Count == 0)
        {
            throw CliException.Failed("the HTTP listener is disabled in the configuration; the admin API lives on it.");
        }

        var tokenPath = Path.Combine(ctx.DataDir, "admin-api.token");
        string token;
        try
        {
            token = File.ReadAllText(tokenPath).Trim();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw CliException.Failed($"no admin API token at {tokenPath}: is the server running with --data {ctx.DataDir}?");
        }
        catch (UnauthorizedAccessException)
        {
            throw CliException.Failed($"cannot read {tokenPath}: run as the server's user or root.");
        }

        var host = StatusCommand.ConnectHost(http.Addresses[0]);
        return new AdminApiClient(new UriBuilder(Uri.UriSchemeHttp, host, http.Port, "/").Uri, token);
    }

    /// <summary>GET returning JSON; server errors become a <see cref="CliException"/> with the server's text.</summary>
    public async Task<JsonNode> GetJsonAsync(string path, CancellationToken ct) =>
        await SendAsync(new HttpRequestMessage(HttpMethod.Get, path), ct);

    /// <summary>POST of a JSON body (or none) returning JSON.</summary>
    public async Task<JsonNode> PostJsonAsync(string path, JsonNode? body, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        return await SendAsync(request, ct);
    }

    private async Task<JsonNode> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using (request)
        {
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, ct);
            }
            catch (HttpRequestException ex) when (ex.InnerException is SocketException)
            {
                throw CliException.Failed($"the server is not running (nothing listens at {_http.BaseAddress}).");
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                throw CliException.Failed($"the server did not answer within {RequestTimeout.TotalSeconds} s.");
            }

            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    throw CliException.Failed("the server refused the admin token (was it restarted with another data folder?).");
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw CliException.Failed($"{(int)response.StatusCode}: {text.Trim()}");
                }

                return JsonNode.Parse(text.Length == 0 ? "{}" : text) ?? new JsonObject();
            }
        }
    }

    public void Dispose() => _http.Dispose();
}
