using System.Net;
using System.Net.Sockets;

namespace Rempart.Backup.Tests;

/// <summary>
/// A private Dovecot (Debian's dovecot-imapd) on a free loopback port, with its own configuration, passwd-file and
/// Maildir in a temp folder; stopped and removed at dispose. Needs root (as CI runs) to switch to the dovecot user.
/// </summary>
public sealed class DovecotServer : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/dovecot";

    private readonly TempDir _dir = new();

    private DovecotServer(int port) => Port = port;

    public int Port { get; }

    public static async Task<DovecotServer> StartAsync(params (string User, string Password)[] users)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException("dovecot is not installed: apt-get install dovecot-imapd");
        }

        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var server = new DovecotServer(port);
        var root = server._dir.Path;
        var mail = Path.Combine(root, "mail");
        Directory.CreateDirectory(mail);
        await File.WriteAllLinesAsync(Path.Combine(root, "users"), users.Select(u => $"{u.User}:{{PLAIN}}{u.Password}"));
        await File.WriteAllTextAsync(Path.Combine(root, "dovecot.conf"), $$"""
            protocols = imap
            listen = 127.0.0.1
            base_dir = {{root}}/run
            state_dir = {{root}}/state
            log_path = {{root}}/dovecot.log
            ssl = no
            disable_plaintext_auth = no
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
                port = {{port}}
              }
              inet_listener imaps {
                port = 0
              }
            }
            service anvil {
              chroot =
            }
            """);
        DovecotProcess.Run("chown", "dovecot:dovecot", mail);
        DovecotProcess.Run(Binary, "-c", Path.Combine(root, "dovecot.conf"));

        // Ready when the port accepts (at most 10 s).
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        throw new TimeoutException("dovecot did not listen: " + server.Log);
    }

    public string Log => File.Exists(Path.Combine(_dir.Path, "dovecot.log")) ? File.ReadAllText(Path.Combine(_dir.Path, "dovecot.log")) : "";

    public async ValueTask DisposeAsync()
    {
        await DovecotProcess.StopAsync(Path.Combine(_dir.Path, "run", "master.pid"));
        _dir.Dispose();
    }
}
