using System.Diagnostics;
using System.Globalization;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Rempart.Integration.Tests;

/// <summary>
/// The interop tests run one at a time: each starts real servers and real client programs, and the machine has
/// two cores; running them side by side would only turn slow peers into timeouts.
/// </summary>
[CollectionDefinition(Name)]
public sealed class InteropCollection
{
    public const string Name = "interop";
}

/// <summary>What an external program printed and returned.</summary>
public sealed record ToolResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    public string All => Stdout + "\n" + Stderr;

    public override string ToString() => $"$ {Command}\nexit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the real client and peer programs (swaks, curl, python3, mbsync, postfix) with a bounded wait.</summary>
public static class ExternalTool
{
    private static readonly string[] ExtraDirectories = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

    /// <summary>The full path of <paramref name="name"/> on PATH (and the sbin folders), or null.</summary>
    public static string? Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(ExtraDirectories))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The program's path; a clear failure naming the Debian package when it is missing.</summary>
    public static string Require(string name, string package) =>
        Find(name) ?? throw new InvalidOperationException($"'{name}' is not installed: the Debian package '{package}' provides it (./test.sh installs it).");

    /// <summary>
    /// Runs a program and waits at most <paramref name="timeout"/> (default 60 s); on timeout the whole process
    /// tree is killed and a <see cref="TimeoutException"/> carries what it printed so far.
    /// </summary>
    public static async Task<ToolResult> RunAsync(
        string file,
        IEnumerable<string> args,
        string? stdin = null,
        TimeSpan? timeout = null,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }

        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                psi.Environment[k] = v;
            }
        }

        var command = file + " " + string.Join(' ', psi.ArgumentList.Select(a => a.Contains(' ', StringComparison.Ordinal) ? "'" + a + "'" : a));
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + command);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
            {
                await p.StandardInput.WriteAsync(stdin);
            }

            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading its input; its exit code and output tell why.
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            await p.WaitForExitAsync();
            throw new TimeoutException($"{command} did not finish in {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds} s\n--- stdout\n{await stdout}\n--- stderr\n{await stderr}");
        }

        return new ToolResult(command, p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a Python 3 script (given as text) with arguments; the script is kept in a temp file only while it runs.</summary>
    public static async Task<ToolResult> PythonAsync(string script, TimeSpan timeout, params string[] args)
    {
        var python = Require("python3", "python3");
        var file = Path.Combine(Path.GetTempPath(), "rempart-py-" + Guid.NewGuid().ToString("n")[..10] + ".py");
        await File.WriteAllTextAsync(file, script);
        try
        {
            return await RunAsync(python, [file, .. args], timeout: timeout, environment: new Dictionary<string, string> { ["PYTHONIOENCODING"] = "utf-8" });
        }
        finally
        {
            File.Delete(file);
        }
    }
}

/// <summary>A throwaway folder under the temp path, removed on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("n")[..10]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Looks at a Rempart server from outside with MailKit: submit, read, wait for arrival.</summary>
public static class MailProbe
{
    private static int _users;

    /// <summary>
    /// Every server in these tests uses a self-signed certificate made on first run; the tests check the
    /// protocols, not the PKI, so any certificate is accepted.
    /// </summary>
#pragma warning disable CA5359 // Test servers only, on loopback, with certificates made for the test.
    public static readonly System.Net.Security.RemoteCertificateValidationCallback TrustTestCertificates = (_, _, _, _) => true;
#pragma warning restore CA5359

    /// <summary>A fresh account (unique local part) on <paramref name="domain"/>; returns address and password.</summary>
    public static async Task<(string Address, string Password)> NewUserAsync(ServerProcess server, string prefix, string domain = "example.test")
    {
        var n = Interlocked.Increment(ref _users);
        var address = $"{prefix}{n.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("n")[..6]}@{domain}";
        var password = "Pw-" + Guid.NewGuid().ToString("n")[..16];
        await server.AddUserAsync(address, password);
        return (address, password);
    }

    public static MimeMessage Message(string from, string to, string subject, string body)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse(from));
        m.To.Add(MailboxAddress.Parse(to));
        m.Subject = subject;
        m.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("interop.test");
        m.Body = new TextPart("plain") { Text = body };
        return m;
    }

    /// <summary>Submission (port 587 style): STARTTLS, AUTH, send.</summary>
    public static async Task SubmitAsync(ServerProcess server, string user, string password, MimeMessage message)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var smtp = new SmtpClient { ServerCertificateValidationCallback = MailProbe.TrustTestCertificates, Timeout = 30_000 };
        await smtp.ConnectAsync("127.0.0.1", server.Port("submission"), SecureSocketOptions.StartTls, cts.Token);
        await smtp.AuthenticateAsync(user, password, cts.Token);
        await smtp.SendAsync(message, cts.Token);
        await smtp.DisconnectAsync(true, cts.Token);
    }

    public static async Task<ImapClient> ImapAsync(ServerProcess server, string user, string password)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = MailProbe.TrustTestCertificates, Timeout = 30_000 };
        try
        {
            await imap.ConnectAsync("127.0.0.1", server.Port("imaps"), SecureSocketOptions.SslOnConnect);
            await imap.AuthenticateAsync(user, password);
            return imap;
        }
        catch
        {
            imap.Dispose();
            throw;
        }
    }

    /// <summary>Every message of the user's INBOX, read in full.</summary>
    public static async Task<List<MimeMessage>> InboxAsync(ServerProcess server, string user, string password)
    {
        using var imap = await ImapAsync(server, user, password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var list = new List<MimeMessage>();
        for (var i = 0; i < imap.Inbox.Count; i++)
        {
            list.Add(await imap.Inbox.GetMessageAsync(i));
        }

        await imap.DisconnectAsync(true);
        return list;
    }

    /// <summary>Polls the user's INBOX (every 500 ms, at most <paramref name="timeout"/>) for a message whose Subject contains <paramref name="marker"/>.</summary>
    public static Task<MimeMessage> WaitForSubjectAsync(ServerProcess server, string user, string password, string marker, TimeSpan timeout) =>
        WaitForAsync(server, user, password, m => m.Subject?.Contains(marker, StringComparison.Ordinal) == true, "Subject containing " + marker, timeout);

    public static async Task<MimeMessage> WaitForAsync(ServerProcess server, string user, string password, Func<MimeMessage, bool> match, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        using var imap = await ImapAsync(server, user, password);
        var seen = new HashSet<uint>();
        var subjects = new List<string>();
        while (true)
        {
            // Re-selecting refreshes the view without relying on unsolicited EXISTS.
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            if (imap.Inbox.Count > 0)
            {
                var uids = await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.All);
                foreach (var uid in uids.Where(u => !seen.Contains(u.Id)))
                {
                    var m = await imap.Inbox.GetMessageAsync(uid);
                    seen.Add(uid.Id);
                    subjects.Add(m.Subject ?? "(none)");
                    if (match(m))
                    {
                        await imap.DisconnectAsync(true);
                        return m;
                    }
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no message with {what} in {user}'s INBOX after {timeout.TotalSeconds} s; it holds: [{string.Join(" | ", subjects)}]\n--- server log tail\n{Tail(server.Output, 40)}");
            }

            await Task.Delay(500);
        }
    }

    /// <summary>`rempart queue list` output (stdout and stderr).</summary>
    public static async Task<string> QueueListAsync(ServerProcess server)
    {
        var r = await server.CliAsync(null, "queue", "list");
        r.EnsureSuccess();
        return r.Stdout + r.Stderr;
    }

    /// <summary>Polls `rempart queue list` until <paramref name="condition"/> holds (at most <paramref name="timeout"/>); returns the last listing.</summary>
    public static async Task<string> WaitForQueueAsync(ServerProcess server, Func<string, bool> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var list = await QueueListAsync(server);
            if (condition(list))
            {
                return list;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"queue never {what} within {timeout.TotalSeconds} s; last listing:\n{list}\n--- server log tail\n{Tail(server.Output, 40)}");
            }

            await Task.Delay(1000);
        }
    }

    public static string Tail(string text, int lines)
    {
        var all = text.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>The value of the first header named <paramref name="name"/>, or "" (for clear assertion messages).</summary>
    public static string Header(MimeMessage m, string name) => m.Headers[name] ?? string.Empty;
}

/// <summary>One running Rempart shared by the tests of a class (each test makes its own users).</summary>
public sealed class SharedServerFixture : IAsyncLifetime
{
    /// <summary>A port where nothing listens: mail routed there stays queued.</summary>
    public int DeadPort { get; } = ServerProcess.FreePort();

    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = ServerProcess.Create(c =>
        {
            c["routes"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = "hold",
                ["domains"] = new System.Text.Json.Nodes.JsonArray("held.test"),
                ["smartHost"] = "127.0.0.1:" + DeadPort.ToString(CultureInfo.InvariantCulture),
                ["tls"] = "none",
            });
            c["queue"] = new System.Text.Json.Nodes.JsonObject { ["connectTimeout"] = "00:00:05" };
        });
        await Server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}
