using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailKit.Net.Smtp;
using MimeKit;
using Xunit.Abstractions;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// The report page of a real server, over HTTPS, in Debian's headless chromium driven through the DevTools protocol:
/// login, live charts rising after mail is sent, message trace search, a screenshot kept as a test artifact.
/// </summary>
public sealed class ReportPageTests(ITestOutputHelper output)
{
    private const string Password = "report-user-pw-1";
    private static readonly TimeSpan Live = TimeSpan.FromSeconds(30);

    private static ServerProcess NewServer() => ServerProcess.Create(c =>
    {
        c["listeners"]!["https"] = new JsonObject { ["port"] = ServerProcess.FreePort() };
    });

    private static string Js(string s) => JsonSerializer.Serialize(s);

    [Fact]
    public async Task Admin_logs_in_over_https_sees_mail_in_rise_finds_the_message_in_the_trace()
    {
        Assert.True(File.Exists(ChromiumDevTools.DefaultPath), "chromium is required (apt-get install chromium)");
        await using var server = NewServer();
        await server.StartAsync();
        var admin = "admin@localhost";
        var adminPassword = server.AdminPassword ?? throw new InvalidOperationException("no first-run password printed:\n" + server.Output);
        await server.AddUserAsync("reader@localhost", Password);
        var https = $"https://127.0.0.1:{server.Port("https").ToString(CultureInfo.InvariantCulture)}";

        await using var browser = await ChromiumDevTools.LaunchAsync();

        // Not logged in: the page sends the browser to the login form.
        await browser.NavigateAsync(https + "/report");
        Assert.Equal("/report/login", await browser.EvaluateStringAsync("location.pathname"));

        // A wrong password is refused, and so is a correct password of an account that is not an administrator.
        await SubmitLoginAsync(browser, admin, "not-the-password");
        Assert.Equal("/report/login", await browser.EvaluateStringAsync("location.pathname"));
        Assert.Contains("Wrong address or password", await browser.EvaluateStringAsync("document.getElementById('login-error').textContent"), StringComparison.Ordinal);
        await SubmitLoginAsync(browser, "reader@localhost", Password);
        Assert.Contains("not an administrator", await browser.EvaluateStringAsync("document.getElementById('login-error').textContent"), StringComparison.Ordinal);

        // The administrator gets in; the script fills the numbers from /api/report/stats.
        await SubmitLoginAsync(browser, admin, adminPassword);
        Assert.Equal("/report", await browser.EvaluateStringAsync("location.pathname"));
        Assert.True(
            await browser.WaitForAsync("document.getElementById('total-mailIn').hasAttribute('data-value') && document.querySelector('#chart-mail polyline')", Live),
            "the page never drew its first stats:\n" + await browser.EvaluateStringAsync("document.body.innerText"));
        var before = double.Parse(await browser.EvaluateStringAsync("document.getElementById('total-mailIn').getAttribute('data-value')"), CultureInfo.InvariantCulture);

        var messageId = "report-" + Guid.NewGuid().ToString("n") + "@client.test";
        await SendAsync(server.Port("smtp"), "reader@localhost", messageId, "Report <page> test & \"quotes\"");

        // The "mail in" number and the chart's series rise within seconds, without reloading the page.
        Assert.True(
            await browser.WaitForAsync($"Number(document.getElementById('total-mailIn').getAttribute('data-value')) > {before.ToString(CultureInfo.InvariantCulture)} && Number(document.getElementById('sum-mailIn').getAttribute('data-value')) > 0", Live),
            "mail in did not rise on the page:\n" + await browser.EvaluateStringAsync("document.body.innerText"));
        Assert.Equal("/report", await browser.EvaluateStringAsync("location.pathname"));
        Assert.True(await browser.WaitForAsync("document.getElementById('top-recipients').textContent.includes('reader@localhost')", Live),
            "top recipients never showed the message:\n" + await browser.EvaluateStringAsync("document.body.innerText"));
        var health = await browser.EvaluateStringAsync("document.getElementById('health').textContent");
        Assert.False(string.IsNullOrWhiteSpace(health));

        var png = await browser.ScreenshotAsync();
        Assert.True(png.Length > 1000 && png[0] == 0x89 && png[1] == (byte)'P', "not a PNG");
        var dir = Environment.GetEnvironmentVariable("TEST_ARTIFACTS_DIR") is { Length: > 0 } d ? d : Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(dir);
        var shot = Path.Combine(dir, "report.png");
        await File.WriteAllBytesAsync(shot, png);
        output.WriteLine("report page screenshot: " + shot);
        Console.WriteLine("report page screenshot: " + shot);

        // Message trace search by Message-ID (the trace is written in small batches: retry for a few seconds).
        var found = false;
        for (var i = 0; i < 30 && !found; i++)
        {
            await browser.NavigateAsync(https + "/report/trace?q=" + Uri.EscapeDataString("<" + messageId + ">"));
            found = await browser.EvaluateStringAsync("Array.from(document.querySelectorAll('.message-id')).map(e => e.textContent).join(' ')") is var ids
                && ids.Contains(messageId, StringComparison.Ordinal);
            if (!found)
            {
                await Task.Delay(500);
            }
        }

        var text = await browser.EvaluateStringAsync("document.body.innerText");
        Assert.True(found, "the message was not found in the trace:\n" + text);
        Assert.Contains("reader@localhost", text, StringComparison.Ordinal);
        // The subject came from a mail header: shown as text, never as markup.
        Assert.Contains("Report <page> test & \"quotes\"", await browser.EvaluateStringAsync("document.querySelector('.subject').textContent"), StringComparison.Ordinal);
        Assert.Equal(0, (await browser.EvaluateAsync("document.querySelectorAll('page').length")).GetInt32());

        // Logging out ends the session: the page sends the browser back to the login form.
        await browser.EvaluateAsync("document.querySelector('form[action=\"/report/logout\"]').submit()");
        await browser.WaitLoadedAsync();
        await browser.NavigateAsync(https + "/report");
        Assert.Equal("/report/login", await browser.EvaluateStringAsync("location.pathname"));
    }

    [Fact]
    public async Task Stats_api_needs_a_session_and_login_needs_the_csrf_token()
    {
        await using var server = NewServer();
        await server.StartAsync();
        var http = $"http://127.0.0.1:{server.Port("http").ToString(CultureInfo.InvariantCulture)}";
        var https = $"https://127.0.0.1:{server.Port("https").ToString(CultureInfo.InvariantCulture)}";

        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, ServerCertificateCustomValidationCallback = (_, _, _, _) => true }) { Timeout = TimeSpan.FromSeconds(30) };
        foreach (var baseUrl in new[] { http, https })
        {
            using var denied = await anonymous.GetAsync(new Uri(baseUrl + "/api/report/stats"));
            Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
            using var redirected = await anonymous.GetAsync(new Uri(baseUrl + "/report/trace?q=x"));
            Assert.Equal(HttpStatusCode.SeeOther, redirected.StatusCode);
            Assert.StartsWith("/report/login", redirected.Headers.Location!.OriginalString, StringComparison.Ordinal);
        }

        // A form post without the login page's CSRF cookie is refused even with the right password.
        using var forged = await anonymous.PostAsync(new Uri(https + "/report/login"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["username"] = "admin@localhost", ["password"] = server.AdminPassword!, ["csrf"] = "0123",
        }));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Null(forged.Headers.GetValues("Set-Cookie").FirstOrDefault(c => c.StartsWith("rempart_session=", StringComparison.Ordinal)));

        // Through the form, with its token: a Secure, HttpOnly, SameSite=Strict session cookie that opens the API.
        var cookies = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler
        {
            AllowAutoRedirect = false, CookieContainer = cookies, ServerCertificateCustomValidationCallback = (_, _, _, _) => true,
        }) { Timeout = TimeSpan.FromSeconds(30) };
        var form = await client.GetStringAsync(new Uri(https + "/report/login"));
        var token = System.Text.RegularExpressions.Regex.Match(form, "name=\"csrf\" value=\"([0-9a-f]{64})\"").Groups[1].Value;
        Assert.Equal(64, token.Length);
        using var login = await client.PostAsync(new Uri(https + "/report/login"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["username"] = "admin@localhost", ["password"] = server.AdminPassword!, ["csrf"] = token,
        }));
        Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
        var sessionCookie = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("rempart_session=", StringComparison.Ordinal));
        Assert.Contains("httponly", sessionCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", sessionCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", sessionCookie, StringComparison.OrdinalIgnoreCase);

        using var statsResponse = await client.GetAsync(new Uri(https + "/api/report/stats"));
        Assert.Equal(HttpStatusCode.OK, statsResponse.StatusCode);
        using var stats = JsonDocument.Parse(await statsResponse.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Array, stats.RootElement.GetProperty("points").GetProperty("t").ValueKind);
        Assert.Contains(stats.RootElement.GetProperty("series").EnumerateArray(), s => s.GetProperty("name").GetString() == "mailIn");
        Assert.True(stats.RootElement.GetProperty("health").TryGetProperty("running", out _));

        using var page = await client.GetAsync(new Uri(https + "/report"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);

        // The CLI's bearer token still opens the same API.
        var cliToken = (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "admin-api.token"))).Trim();
        using var bearer = new HttpRequestMessage(HttpMethod.Get, new Uri(http + "/api/report/stats"));
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", cliToken);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(bearer)).StatusCode);
    }

    private static async Task SubmitLoginAsync(ChromiumDevTools browser, string user, string password)
    {
        await browser.EvaluateAsync(
            $"document.getElementById('username').value = {Js(user)}; document.getElementById('password').value = {Js(password)}; " +
            "window.__submitted = true; document.getElementById('login-form').submit(); true");
        // The new document has no __submitted flag: wait for it to replace the old one, then for it to load.
        if (!await browser.WaitForAsync("window.__submitted !== true && document.readyState === 'complete'", Live))
        {
            throw new TimeoutException("the login form post did not load a new page");
        }
    }

    private static async Task SendAsync(int port, string to, string messageId, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@elsewhere.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.MessageId = messageId;
        message.Body = new TextPart("plain") { Text = "Hello from the report page test.\n" };
        using var smtp = new SmtpClient { Timeout = 30_000 };
        await smtp.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }
}
