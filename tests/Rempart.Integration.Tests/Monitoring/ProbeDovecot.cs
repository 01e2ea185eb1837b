using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Rempart.Backup.Tests;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// A private Dovecot (Debian's dovecot-imapd and dovecot-pop3d) for the probe tests: IMAP with STARTTLS, IMAPS,
/// POP3 with STLS and POP3S on free loopback ports, a certificate made with openssl valid for
/// <c>certificateDays</c>, plain-text logins refused before TLS (as a production Dovecot is set up), a passwd-file
/// user. Its own configuration and folders under the temp path; stopped and removed at dispose. Needs root.
/// </summary>
public sealed class ProbeDovecot : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/dovecot";
    public const string CertificateName = "dovecot.probe.test";

    private readonly TempFolder _dir = new("rempart-probe-dovecot");

    private ProbeDovecot(int[] ports)
    {
        Imap = ports[0];
        Imaps = ports[1];
        Pop3 = ports[2];
        Pop3s = ports[3];
    }

    public int Imap { get; }

    public int Imaps { get; }

    public int Pop3 { get; }

    public int Pop3s { get; }

    public string Log => File.Exists(Path.Combine(_dir.Path, "dovecot.log")) ? File.ReadAllText(Path.Combine(_dir.Path, "dovecot.log")) : "";

    public static async Task<ProbeDovecot> StartAsync(int certificateDays, params (string User, string Password)[] users)
    {
        if (!File.Exists(Binary) || !File.Exists("/usr/lib/dovecot/pop3"))
        {
            throw new InvalidOperationException("dovecot is not installed: apt-get install dovecot-imapd dovecot-pop3d (./test.sh installs them)");
        }

        var server = new ProbeDovecot(ServerProcess.FreePorts(4));
        try
        {
            await server.ConfigureAndStartAsync(certificateDays, users);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task ConfigureAndStartAsync(int certificateDays, (string User, string Password)[] users)
    {
        var root = _dir.Path;
        var mail = Path.Combine(root, "mail");
        var tls = Path.Combine(root, "tls");
        Directory.CreateDirectory(mail);
        Directory.CreateDirectory(tls);
        var openssl = ExternalTool.Require("openssl", "openssl");
        var cert = await ExternalTool.RunAsync(openssl,
        [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-keyout", Path.Combine(tls, "key.pem"), "-out", Path.Combine(tls, "cert.pem"),
            "-days", certificateDays.ToString(CultureInfo.InvariantCulture),
            "-subj", "/CN=" + CertificateName, "-addext", "subjectAltName=DNS:" + CertificateName,
        ], timeout: TimeSpan.FromSeconds(60));
        if (cert.ExitCode != 0)
        {
            throw new InvalidOperationException("openssl could not make the test certificate\n" + cert);
        }

        await File.WriteAllLinesAsync(Path.Combine(root, "users"), users.Select(u => $"{u.User}:{{PLAIN}}{u.Password}"));
        string P(int port) => port.ToString(CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(Path.Combine(root, "dovecot.conf"), $$"""
            protocols = imap pop3
            listen = 127.0.0.1
            base_dir = {{root}}/run
            state_dir = {{root}}/state
            log_path = {{root}}/dovecot.log
            ssl = yes
            ssl_cert = <{{tls}}/cert.pem
            ssl_key = <{{tls}}/key.pem
            disable_plaintext_auth = yes
            auth_mechanisms = plain login
            default_login_user = dovenull
            default_internal_user = dovecot
            mail_location = maildir:{{mail}}/%u
            first_valid_uid = 1
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {{root}}/users
            }
            userdb {
              driver = static
              args = uid=dovecot gid=dovecot home={{mail}}/%u
            }
            namespace inbox {
              inbox = yes
              separator = /
            }
            service imap-login {
              chroot =
              inet_listener imap {
                address = 127.0.0.1
                port = {{P(Imap)}}
              }
              inet_listener imaps {
                address = 127.0.0.1
                port = {{P(Imaps)}}
                ssl = yes
              }
            }
            service pop3-login {
              chroot =
              inet_listener pop3 {
                address = 127.0.0.1
                port = {{P(Pop3)}}
              }
              inet_listener pop3s {
                address = 127.0.0.1
                port = {{P(Pop3s)}}
                ssl = yes
              }
            }
            service anvil {
              chroot =
            }
            """);
        DovecotProcess.Run("chown", "dovecot:dovecot", mail);
        DovecotProcess.Run(Binary, "-c", Path.Combine(root, "dovecot.conf"));

        // Ready when every port accepts (bounded: 100 tries of 100 ms per port).
        foreach (var port in new[] { Imap, Imaps, Pop3, Pop3s })
        {
            var ready = false;
            for (var i = 0; i < 100 && !ready; i++)
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, port);
                    ready = true;
                }
                catch (SocketException)
                {
                    await Task.Delay(100);
                }
            }

            if (!ready)
            {
                throw new TimeoutException($"dovecot did not listen on {port}: {Log}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DovecotProcess.StopAsync(Path.Combine(_dir.Path, "run", "master.pid"));
        _dir.Dispose();
    }
}
