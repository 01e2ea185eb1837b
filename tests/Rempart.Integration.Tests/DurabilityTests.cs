using System.Collections.Concurrent;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Rempart.Common.Configuration;
using Rempart.Store.Sqlite;

namespace Rempart.Integration.Tests;

/// <summary>The durability contract: what the server acknowledged survives SIGKILL.</summary>
public sealed class DurabilityTests
{
    [Fact]
    public async Task Every_message_acknowledged_with_250_survives_kill_9_in_the_middle_of_a_write_load()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        await server.AddUserAsync("load@example.test", "load-Secret-1");

        var acknowledged = new ConcurrentBag<string>();
        using var stopSenders = new CancellationTokenSource();
        var senders = Enumerable.Range(0, 8).Select(s => Task.Run(async () =>
        {
            try
            {
                using var smtp = new SmtpClient();
                await smtp.ConnectAsync("127.0.0.1", server.Port("smtp"), SecureSocketOptions.None, stopSenders.Token);
                for (var n = 0; n < 5000 && !stopSenders.IsCancellationRequested; n++)
                {
                    var id = $"k{s}-{n}@durability.test";
                    var m = new MimeMessage();
                    m.From.Add(MailboxAddress.Parse("sender@elsewhere.test"));
                    m.To.Add(MailboxAddress.Parse("load@example.test"));
                    m.MessageId = id;
                    m.Subject = "load " + id;
                    m.Body = new TextPart("plain") { Text = new string('x', 4096) + " " + id };
                    await smtp.SendAsync(m, stopSenders.Token);
                    acknowledged.Add(id); // only after the 250 reply
                }
            }
            catch (Exception ex) when (ex is IOException or SmtpProtocolException or SmtpCommandException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                // The server was killed under us: what was not acknowledged may be lost.
            }
        })).ToArray();

        // Let the load run, then SIGKILL mid-stream.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (acknowledged.Count < 200 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await server.KillAsync();
        await stopSenders.CancelAsync();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(acknowledged.Count >= 200, $"only {acknowledged.Count} messages acknowledged before the kill");

        // The store opens clean after the crash.
        await using (var store = await SqliteMailStore.OpenAsync(Path.Combine(server.DataDir, "rempart.db"), Path.Combine(server.DataDir, "blobs"), new StoreOptions(), NullLogger.Instance))
        {
            Assert.Empty(await store.CheckIntegrityAsync());
        }

        // Restarted, the server has every acknowledged message, readable in full.
        await using var again = ServerProcess.Reuse(server);
        await again.StartAsync();
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", again.Port("imaps"), SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync("load@example.test", "load-Secret-1");
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Size);
        var present = summaries.Select(s => s.Envelope?.MessageId ?? "").ToHashSet(StringComparer.Ordinal);
        var missing = acknowledged.Where(id => !present.Contains(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged messages lost, e.g. {string.Join(", ", missing.Take(5))}");
        Assert.All(summaries, s => Assert.True(s.Size is > 4096));

        // Spot-check full bodies round-trip.
        var last = await imap.Inbox.GetMessageAsync(summaries[^1].Index);
        Assert.Contains(last.MessageId ?? "(none)", last.TextBody ?? "", StringComparison.Ordinal);
        await again.StopAsync();
    }
}
