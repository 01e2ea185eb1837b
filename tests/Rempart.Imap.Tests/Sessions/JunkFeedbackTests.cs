using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;

namespace Rempart.Imap.Tests.Sessions;

/// <summary>COPY/MOVE into and out of \Junk tell the <see cref="IMailFeedback"/> (the anti-spam learns from it).</summary>
public class JunkFeedbackTests
{
    private sealed class RecordingFeedback : IMailFeedback
    {
        public ConcurrentQueue<(long AccountId, IReadOnlyList<string> Hashes, bool IsJunk)> Calls { get; } = new();

        public ValueTask OnJunkClassifiedAsync(long accountId, IReadOnlyList<string> blobHashes, bool isJunk, CancellationToken ct)
        {
            Calls.Enqueue((accountId, blobHashes, isJunk));
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Moves_and_copies_into_and_out_of_junk_fire_the_feedback_hook()
    {
        var folder = Path.Combine(Path.GetTempPath(), "rempart-imap-junk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var feedback = new RecordingFeedback();
        using var certificates = new TestCertificateSource();
        using var stop = new CancellationTokenSource();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        var sessions = new List<Task>();
        Task? accept = null;
        var store = await SqliteMailStore.OpenAsync(Path.Combine(folder, "store.db"), Path.Combine(folder, "blobs"), new StoreOptions(), NullLogger.Instance);
        try
        {
            var options = new RempartOptions();
            await store.Directory.AddDomainAsync("example.com");
            var account = await store.Directory.AddAccountAsync(new NewAccount(ImapTestServer.User, new PasswordHasher(64, 1, 1).Hash(ImapTestServer.Password)));
            var auth = new AuthService(store.Directory, options.Auth, NullLogger<AuthService>.Instance);
            var handler = new ImapConnectionHandler(store, auth, options, NullLoggerFactory.Instance, implicitTls: true, feedback);
            listener.Start();
            accept = Task.Run(async () =>
            {
                for (var i = 0; i < 10 && !stop.IsCancellationRequested; i++)
                {
                    Socket socket;
                    try
                    {
                        socket = await listener.AcceptSocketAsync(stop.Token);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        return;
                    }

                    lock (sessions)
                    {
                        sessions.Add(Task.Run(async () =>
                        {
                            await using var connection = new NetConnection(new NetworkStream(socket, ownsSocket: true), socket.RemoteEndPoint, socket.LocalEndPoint, certificates, "imaps");
                            try
                            {
                                await connection.UpgradeToTlsAsync(TimeSpan.FromSeconds(10), stop.Token);
                                await handler.HandleAsync(connection, stop.Token);
                            }
                            catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                            {
                            }
                        }));
                    }
                }
            });

            using var client = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => c?.Subject == "CN=localhost", Timeout = 20_000 };
            await client.ConnectAsync("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, SecureSocketOptions.SslOnConnect);
            await client.AuthenticateAsync(ImapTestServer.User, ImapTestServer.Password);
            var inbox = client.Inbox;
            var junk = await client.GetFolderAsync("Junk");
            var trash = await client.GetFolderAsync("Trash");
            var archive = await client.GetFolderAsync("Archive");
            for (var i = 0; i < 2; i++)
            {
                var m = new MimeMessage();
                m.From.Add(MailboxAddress.Parse("bob@partner.example"));
                m.To.Add(MailboxAddress.Parse(ImapTestServer.User));
                m.Subject = "message " + i;
                m.Body = new TextPart("plain") { Text = "hello " + i };
                await inbox.AppendAsync(m);
            }

            // Inbox -> Archive: nothing to learn.
            await inbox.OpenAsync(FolderAccess.ReadWrite);
            await inbox.CopyToAsync(new UniqueId(1), archive);
            Assert.Empty(feedback.Calls);

            // Inbox -> Junk (MOVE, both messages): spam.
            await inbox.MoveToAsync([new UniqueId(1), new UniqueId(2)], junk);
            Assert.True(feedback.Calls.TryDequeue(out var intoJunk));
            Assert.Equal(account.Id, intoJunk.AccountId);
            Assert.True(intoJunk.IsJunk);
            Assert.Equal(2, intoJunk.Hashes.Count);
            Assert.All(intoJunk.Hashes, h => Assert.True(store.Blobs.Exists(h)));

            // Junk -> Inbox (UID COPY): not spam. Junk -> Trash: says nothing.
            await junk.OpenAsync(FolderAccess.ReadWrite);
            await junk.CopyToAsync(new UniqueId(1), inbox);
            Assert.True(feedback.Calls.TryDequeue(out var outOfJunk));
            Assert.False(outOfJunk.IsJunk);
            Assert.Single(outOfJunk.Hashes);
            Assert.Contains(outOfJunk.Hashes[0], intoJunk.Hashes);
            await junk.MoveToAsync(new UniqueId(2), trash);
            Assert.Empty(feedback.Calls);
            await client.DisconnectAsync(true);
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
            if (accept is not null)
            {
                await accept;
            }

            Task[] running;
            lock (sessions)
            {
                running = [.. sessions];
            }

            await Task.WhenAny(Task.WhenAll(running), Task.Delay(TimeSpan.FromSeconds(10)));
            await store.DisposeAsync();
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
