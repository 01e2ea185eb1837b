using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Rempart.Integration.Tests;

/// <summary>A fact that is skipped only when Debian's postfix is not installed at all.</summary>
public sealed class PostfixFactAttribute : FactAttribute
{
    public PostfixFactAttribute()
    {
        if (PostfixInstance.Binary is null)
        {
            Skip = "postfix is not installed (/usr/sbin/postfix missing): apt-get install postfix, or run ./test.sh which installs it";
        }
    }
}

/// <summary>
/// A private Postfix instance made for one test: its own configuration, queue, data and mail folders under the
/// temp path, listening on one loopback port, logging to a file, stopped and removed on dispose. Nothing it
/// accepts can leave the machine: every transport but the ones configured here is an error.
/// </summary>
public sealed class PostfixInstance : IAsyncDisposable
{
    private readonly TempFolder _root;
    private bool _started;

    private PostfixInstance(TempFolder root, int smtpPort)
    {
        _root = root;
        SmtpPort = smtpPort;
    }

    public static string? Binary => File.Exists("/usr/sbin/postfix") ? "/usr/sbin/postfix" : null;

    public int SmtpPort { get; }

    public string ConfigDir => Path.Combine(_root.Path, "etc");

    public string MailDir => Path.Combine(_root.Path, "mail");

    /// <summary>Maildir "new" folder where messages for <see cref="SinkDomain"/> land.</summary>
    public string SinkNew => Path.Combine(MailDir, "sink", "new");

    public string LogFile => Path.Combine(_root.Path, "log", "maillog");

    public const string SinkDomain = "sink.test";

    public string Log => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log yet)";

    /// <summary>
    /// Starts an instance that accepts mail for <see cref="SinkDomain"/> into a Maildir and relays
    /// <paramref name="relayDomain"/> to 127.0.0.1:<paramref name="relayPort"/> (when given).
    /// </summary>
    public static async Task<PostfixInstance> StartAsync(string? relayDomain = null, int? relayPort = null)
    {
        var binary = Binary ?? throw new InvalidOperationException("postfix is not installed");
        var pf = new PostfixInstance(new TempFolder("rempart-postfix"), ServerProcess.FreePort());
        try
        {
            await pf.WriteConfigAsync(relayDomain, relayPort);
            var start = await PostfixCommandAsync(binary, pf.ConfigDir, "start");
            pf._started = true;
            if (start.ExitCode != 0)
            {
                throw new InvalidOperationException("postfix start failed\n" + start + "\n" + await pf.DiagnoseAsync(binary));
            }

            // Wait (bounded) until smtpd answers on the port.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    var greeting = await GreetingAsync(pf.SmtpPort);
                    if (greeting.StartsWith("220", StringComparison.Ordinal))
                    {
                        return pf;
                    }
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("postfix did not answer on port " + pf.SmtpPort + " in 30 s\n" + pf.Log);
                }

                await Task.Delay(200);
            }
        }
        catch
        {
            await pf.DisposeAsync();
            throw;
        }
    }

    /// <summary>Injects a message the way a local program would: Postfix's own sendmail with this instance's configuration.</summary>
    public async Task<ToolResult> SendmailAsync(string from, string to, string message) =>
        await ExternalTool.RunAsync("/usr/sbin/sendmail", ["-C", ConfigDir, "-f", from, "--", to], stdin: message, timeout: TimeSpan.FromSeconds(60));

    /// <summary>The messages delivered to the sink Maildir so far.</summary>
    public IReadOnlyList<string> SinkMessages() =>
        Directory.Exists(SinkNew) ? [.. Directory.GetFiles(SinkNew).Select(File.ReadAllText)] : [];

    private async Task WriteConfigAsync(string? relayDomain, int? relayPort)
    {
        foreach (var d in new[] { "etc", "queue", "data", "mail", "log", "tls" })
        {
            Directory.CreateDirectory(Path.Combine(_root.Path, d));
        }

        // Postfix wants its data folder owned by the postfix account and the virtual mailboxes writable by the
        // mapped uid; the queue folder stays root's (postfix-script fixes its subfolders).
        await ChownAsync("postfix:postfix", Path.Combine(_root.Path, "data"));
        await ChownAsync("nobody:nogroup", MailDir);

        // A throwaway certificate so smtpd can offer STARTTLS (Rempart's opportunistic TLS is exercised).
        using (var key = RSA.Create(2048))
        {
            var req = new CertificateRequest("CN=postfix.interop.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            await File.WriteAllTextAsync(Path.Combine(_root.Path, "tls", "cert.pem"), cert.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(_root.Path, "tls", "key.pem"), key.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(Path.Combine(_root.Path, "tls", "key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        var r = _root.Path;
        var relay = relayDomain is null
            ? string.Empty
            : $"relay_domains = {relayDomain}\ntransport_maps = inline:{{ {relayDomain}=smtp:[127.0.0.1]:{relayPort!.Value.ToString(CultureInfo.InvariantCulture)} }}\n";
        var main = $"""
            # Private Postfix instance for one Rempart interop test (generated by PeersPostfix.cs).
            compatibility_level = 3.6
            queue_directory = {r}/queue
            data_directory = {r}/data
            maillog_file = {r}/log/maillog
            maillog_file_prefixes = {Path.GetTempPath().TrimEnd('/')}
            myhostname = postfix.interop.test
            mydomain = interop.test
            myorigin = postfix.interop.test
            mydestination =
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            mynetworks = 127.0.0.0/8
            biff = no
            alias_maps =
            alias_database =
            # Nothing may leave this machine: no DNS, no default transport.
            smtp_dns_support_level = disabled
            smtpd_peername_lookup = no
            default_transport = error:outbound delivery disabled (interop test instance)
            relay_transport = error:outbound delivery disabled (interop test instance)
            local_transport = error:local delivery disabled
            notify_classes =
            smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
            smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
            {relay}
            virtual_mailbox_domains = {SinkDomain}
            virtual_mailbox_base = {MailDir}
            virtual_mailbox_maps = static:sink/
            virtual_uid_maps = static:65534
            virtual_gid_maps = static:65534
            virtual_minimum_uid = 100
            smtpd_tls_cert_file = {r}/tls/cert.pem
            smtpd_tls_key_file = {r}/tls/key.pem
            smtpd_tls_security_level = may
            smtpd_tls_loglevel = 1
            smtp_tls_security_level = may
            smtp_tls_loglevel = 1
            # Retry soon: the tests wait at most a minute.
            queue_run_delay = 5s
            minimal_backoff_time = 5s
            maximal_backoff_time = 10s
            """;
        await File.WriteAllTextAsync(Path.Combine(ConfigDir, "main.cf"), main.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n");

        var master = new StringBuilder();
        master.Append(CultureInfo.InvariantCulture, $"127.0.0.1:{SmtpPort} inet n - n - - smtpd\n");
        master.Append("""
            pickup    unix  n       -       n       60      1       pickup
            cleanup   unix  n       -       n       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            tlsmgr    unix  -       -       n       1000?   1       tlsmgr
            rewrite   unix  -       -       n       -       -       trivial-rewrite
            bounce    unix  -       -       n       -       0       bounce
            defer     unix  -       -       n       -       0       bounce
            trace     unix  -       -       n       -       0       bounce
            verify    unix  -       -       n       -       1       verify
            flush     unix  n       -       n       1000?   0       flush
            proxymap  unix  -       -       n       -       -       proxymap
            proxywrite unix -       -       n       -       1       proxymap
            smtp      unix  -       -       n       -       -       smtp
            relay     unix  -       -       n       -       -       smtp
            showq     unix  n       -       n       -       -       showq
            error     unix  -       -       n       -       -       error
            retry     unix  -       -       n       -       -       error
            discard   unix  -       -       n       -       -       discard
            virtual   unix  -       n       n       -       -       virtual
            anvil     unix  -       -       n       -       1       anvil
            scache    unix  -       -       n       -       1       scache
            postlog   unix-dgram n  -       n       -       1       postlogd

            """);
        await File.WriteAllTextAsync(Path.Combine(ConfigDir, "master.cf"), master.ToString());
    }

    private static async Task<string> GreetingAsync(int port)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port, cts.Token);
        using var reader = new StreamReader(tcp.GetStream(), Encoding.ASCII);
        return await reader.ReadLineAsync(cts.Token) ?? string.Empty;
    }

    private static async Task ChownAsync(string owner, string path)
    {
        var r = await ExternalTool.RunAsync("chown", [owner, path], timeout: TimeSpan.FromSeconds(10));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException("postfix tests need root (chown failed)\n" + r);
        }
    }

    /// <summary>
    /// Postfix writes its own errors to syslog unless stderr is a terminal; `script` gives it one, so a failed
    /// start explains itself in the test output.
    /// </summary>
    private static async Task<ToolResult> PostfixCommandAsync(string binary, string configDir, string verb) =>
        await ExternalTool.RunAsync("script", ["-qec", $"{binary} -c {configDir} {verb}", "/dev/null"], timeout: TimeSpan.FromSeconds(60));

    private async Task<string> DiagnoseAsync(string binary)
    {
        var check = await PostfixCommandAsync(binary, ConfigDir, "check");
        return check + "\n--- maillog\n" + Log;
    }

    /// <summary>The master's pid from its pid file, read with cat: the master holds a lock .NET's file sharing checks trip over.</summary>
    private async Task<int?> MasterPidAsync()
    {
        var file = Path.Combine(_root.Path, "queue", "pid", "master.pid");
        if (!File.Exists(file))
        {
            return null;
        }

        var r = await ExternalTool.RunAsync("cat", [file], timeout: TimeSpan.FromSeconds(10));
        return int.TryParse(r.Stdout.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    private static bool Alive(int pid)
    {
        var stat = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat";
        if (!File.Exists(stat))
        {
            return false;
        }

        try
        {
            // Field 3 is the state; a zombie (Z) has already exited.
            var text = File.ReadAllText(stat);
            var afterName = text[(text.LastIndexOf(')') + 1)..].TrimStart();
            return afterName.Length > 0 && afterName[0] != 'Z' && afterName[0] != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_started && Binary is { } binary)
            {
                var pid = await MasterPidAsync();
                try
                {
                    await PostfixCommandAsync(binary, ConfigDir, "stop");
                }
                catch (TimeoutException)
                {
                }

                // `postfix stop` only signals the master; wait for it (bounded), and only then force the one pid we started.
                if (pid is { } p)
                {
                    for (var i = 0; i < 100 && Alive(p); i++)
                    {
                        await Task.Delay(100);
                    }

                    if (Alive(p))
                    {
                        await ExternalTool.RunAsync("kill", ["-KILL", p.ToString(CultureInfo.InvariantCulture)], timeout: TimeSpan.FromSeconds(10));
                    }
                }
            }
        }
        finally
        {
            _root.Dispose();
        }
    }
}
