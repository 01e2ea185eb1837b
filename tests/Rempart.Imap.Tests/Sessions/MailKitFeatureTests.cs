using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MimeKit;

namespace Rempart.Imap.Tests.Sessions;

public class MailKitFeatureTests
{
    private static MimeMessage Sample(string subject, string body = "Hello there\r\n", string from = "bob@example.net")
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse(from));
        m.To.Add(MailboxAddress.Parse(ImapTestServer.User));
        m.Subject = subject;
        m.Date = new DateTimeOffset(2024, 3, 1, 10, 0, 0, TimeSpan.Zero);
        m.MessageId = Guid.NewGuid().ToString("N") + "@example.net";
        m.Body = new TextPart("plain") { Text = body };
        return m;
    }

    [Fact]
    public async Task Login_select_append_fetch_round_trip()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.UidPlus));
        var inbox = client.Inbox;
        var uid = await inbox.AppendAsync(Sample("first"), MessageFlags.Flagged);
        Assert.NotNull(uid);
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(1, inbox.Count);
        var summaries = await inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.BodyStructure | MessageSummaryItems.Size | MessageSummaryItems.UniqueId | MessageSummaryItems.InternalDate);
        var s = Assert.Single(summaries);
        Assert.Equal("first", s.Envelope!.Subject);
        Assert.Equal(uid, s.UniqueId);
        Assert.True(s.Flags!.Value.HasFlag(MessageFlags.Flagged));
        Assert.Equal("plain", s.Body!.ContentType.MediaSubtype);
        var message = await inbox.GetMessageAsync(s.UniqueId);
        Assert.Equal("first", message.Subject);
        Assert.Contains("Hello there", message.TextBody!, StringComparison.Ordinal);

        // MailKit fetches with BODY.PEEK[], which must leave \Seen alone.
        var after = await inbox.FetchAsync([s.UniqueId], MessageSummaryItems.Flags);
        Assert.False(after[0].Flags!.Value.HasFlag(MessageFlags.Seen));
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Wrong_password_is_refused_and_the_session_survives()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync(login: false);
        await Assert.ThrowsAsync<MailKit.Security.AuthenticationException>(() => client.AuthenticateAsync(ImapTestServer.User, "wrong"));
        await client.AuthenticateAsync(ImapTestServer.User, ImapTestServer.Password);
        Assert.True(client.IsAuthenticated);
    }

    [Fact]
    public async Task Implicit_tls_login_works()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        using var client = await server.ConnectAsync();
        Assert.True(client.IsSecure);
        Assert.True(client.IsAuthenticated);
    }

    [Fact]
    public async Task Store_search_and_expunge()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        var inbox = client.Inbox;
        await inbox.AppendAsync(Sample("alpha report", "the quick brown fox\r\n"));
        await inbox.AppendAsync(Sample("beta notes", "lazy dog\r\n", "carol@example.org"));
        await inbox.AppendAsync(Sample("Re: alpha report", "reply text\r\n"));
        await inbox.OpenAsync(FolderAccess.ReadWrite);

        var subject = await inbox.SearchAsync(SearchQuery.SubjectContains("alpha"));
        Assert.Equal(2, subject.Count);
        var from = await inbox.SearchAsync(SearchQuery.FromContains("carol"));
        Assert.Single(from);
        var notFrom = await inbox.SearchAsync(SearchQuery.Not(SearchQuery.FromContains("carol")).And(SearchQuery.SubjectContains("report")));
        Assert.Equal(2, notFrom.Count);
        var or = await inbox.SearchAsync(SearchQuery.FromContains("carol").Or(SearchQuery.SubjectContains("Re:")));
        Assert.Equal(2, or.Count);
        var larger = await inbox.SearchAsync(SearchQuery.LargerThan(1));
        Assert.Equal(3, larger.Count);
        var since = await inbox.SearchAsync(SearchQuery.SentSince(new DateTime(2024, 2, 1)));
        Assert.Equal(3, since.Count);
        var body = await inbox.SearchAsync(SearchQuery.BodyContains("lazy"));
        Assert.Single(body);

        await inbox.AddFlagsAsync(subject, MessageFlags.Deleted, silent: false);
        var deleted = await inbox.SearchAsync(SearchQuery.Deleted);
        Assert.Equal(2, deleted.Count);
        await inbox.ExpungeAsync();
        Assert.Equal(1, inbox.Count);
        var all = await inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope);
        Assert.Equal("beta notes", all[0].Envelope!.Subject);
    }

    [Fact]
    public async Task Move_and_copy_report_uids()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        var inbox = client.Inbox;
        await inbox.AppendAsync(Sample("one"));
        await inbox.AppendAsync(Sample("two"));
        var archive = await client.GetFolderAsync("Archive");
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var uids = await inbox.SearchAsync(SearchQuery.All);
        var copied = await inbox.CopyToAsync(uids[0], archive);
        Assert.NotNull(copied);
        var moved = await inbox.MoveToAsync(uids[1], archive);
        Assert.NotNull(moved);
        Assert.Equal(1, inbox.Count);
        var status = await client.GetFolderAsync("Archive");
        await status.StatusAsync(StatusItems.Count | StatusItems.UidNext);
        Assert.Equal(2, status.Count);
    }

    [Fact]
    public async Task Folders_create_rename_delete_subscribe_and_special_use()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var projects = (await root.CreateAsync("Projects", true))!;
        var sub = (await projects.CreateAsync("Été", true))!;
        Assert.Equal("Projects/Été", sub.FullName);
        await sub.SubscribeAsync();
        var subscribed = await root.GetSubfoldersAsync(StatusItems.None, subscribedOnly: true);
        Assert.Contains(subscribed, f => f.FullName == "Projects");
        var folders = await root.GetSubfoldersAsync(false);
        Assert.Contains(folders, f => f.FullName == "Projects");
        var sent = client.GetFolder(SpecialFolder.Sent);
        Assert.NotNull(sent);
        await projects.RenameAsync(root, "Work");
        var names = (await root.GetSubfoldersAsync(false)).Select(f => f.FullName).ToList();
        Assert.Contains("Work", names);
        Assert.DoesNotContain("Projects", names);
        var work = await client.GetFolderAsync("Work/Été");
        await work.DeleteAsync();
        var workFolder = await client.GetFolderAsync("Work");
        Assert.Empty(await workFolder.GetSubfoldersAsync(false));
    }

    [Fact]
    public async Task Condstore_and_qresync_report_changes()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        await client.EnableQuickResyncAsync();
        var inbox = client.Inbox;
        await inbox.AppendAsync(Sample("a"));
        await inbox.AppendAsync(Sample("b"));
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var highest = inbox.HighestModSeq;
        var uids = await inbox.SearchAsync(SearchQuery.All);
        var unchanged = await inbox.AddFlagsAsync(uids, highest, MessageFlags.Answered, silent: true);
        Assert.Empty(unchanged);
        var changed = await inbox.FetchAsync(uids, MessageSummaryItems.Flags | MessageSummaryItems.ModSeq);
        Assert.All(changed, s => Assert.True(s.ModSeq > highest));

        // A conditional store against an old mod-sequence fails for every message.
        var failed = await inbox.AddFlagsAsync(uids, highest, MessageFlags.Flagged, silent: true);
        Assert.Equal(2, failed.Count);

        var validity = inbox.UidValidity;
        var newHighest = inbox.HighestModSeq;
        await inbox.AddFlagsAsync(uids[0], MessageFlags.Deleted, silent: true);
        await inbox.ExpungeAsync();
        await inbox.CloseAsync();
        var vanished = new List<UniqueId>();
        inbox.MessagesVanished += (_, e) => vanished.AddRange(e.UniqueIds);
        await inbox.OpenAsync(FolderAccess.ReadOnly, validity, newHighest, uids);
        Assert.Contains(uids[0], vanished);
    }

    [Fact]
    public async Task Quota_is_reported()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.Store.Directory.SetQuotaAsync(server.Account.Id, 10 * 1024 * 1024, 1000);
        using var client = await server.ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Quota));
        var quota = await client.Inbox.GetQuotaAsync();
        Assert.Equal(10u * 1024, quota.StorageLimit);
        Assert.Equal(1000u, quota.MessageLimit);
    }

    [Fact]
    public async Task Sort_and_thread()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        var inbox = client.Inbox;
        var first = Sample("topic");
        var reply = Sample("Re: topic");
        reply.InReplyTo = first.MessageId;
        reply.References.Add(first.MessageId!);
        reply.Date = first.Date.AddHours(1);
        await inbox.AppendAsync(Sample("zebra"));
        await inbox.AppendAsync(first);
        await inbox.AppendAsync(reply);
        await inbox.OpenAsync(FolderAccess.ReadOnly);
        var sorted = await inbox.SortAsync(SearchQuery.All, [OrderBy.Subject]);
        var subjects = (await inbox.FetchAsync(sorted, MessageSummaryItems.Envelope)).ToDictionary(s => s.UniqueId, s => s.Envelope!.Subject);
        Assert.Equal("topic", subjects[sorted[0]]!.Replace("Re: ", string.Empty, StringComparison.Ordinal));
        Assert.Equal("zebra", subjects[sorted[2]]);
        var threads = await inbox.ThreadAsync(ThreadingAlgorithm.References, SearchQuery.All);
        Assert.Equal(2, threads.Count);
        Assert.Contains(threads, t => t.Children.Count == 1);
        var ordered = await inbox.ThreadAsync(ThreadingAlgorithm.OrderedSubject, SearchQuery.All);
        Assert.Equal(2, ordered.Count);
    }

    [Fact]
    public async Task Idle_wakes_when_another_session_appends()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var watcher = await server.ConnectAsync();
        using var writer = await server.ConnectAsync();
        await watcher.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.Inbox.CountChanged += (_, _) => arrived.TrySetResult(watcher.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = watcher.IdleAsync(done.Token);
        await Task.Delay(200);
        await writer.Inbox.AppendAsync(Sample("wake up"));
        var count = await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await done.CancelAsync();
        await idle;
        Assert.Equal(1, count);
    }

    [Fact]
    public async Task Two_sessions_see_each_others_store_expunge_and_append()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var a = await server.ConnectAsync();
        using var b = await server.ConnectAsync();
        for (var i = 0; i < 3; i++)
        {
            await a.Inbox.AppendAsync(Sample("m" + i));
        }

        await a.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await b.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var flagsSeen = new List<int>();
        b.Inbox.MessageFlagsChanged += (_, e) => flagsSeen.Add(e.Index);
        var expunged = new List<int>();
        b.Inbox.MessageExpunged += (_, e) => expunged.Add(e.Index);

        await a.Inbox.AddFlagsAsync(2, MessageFlags.Flagged, silent: true);
        await b.NoOpAsync();
        Assert.Contains(2, flagsSeen);

        await a.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, silent: true);
        await a.Inbox.ExpungeAsync();
        await a.Inbox.AppendAsync(Sample("m3"));
        await b.NoOpAsync();
        Assert.Equal([0], expunged);
        Assert.Equal(3, b.Inbox.Count);

        // Sequence numbers stay right after the expunge: message 1 is now "m1".
        var first = await b.Inbox.FetchAsync(0, 0, MessageSummaryItems.Envelope);
        Assert.Equal("m1", first[0].Envelope!.Subject);
        var last = await b.Inbox.FetchAsync(2, 2, MessageSummaryItems.Envelope);
        Assert.Equal("m3", last[0].Envelope!.Subject);
    }

    [Fact]
    public async Task Fetch_sections_headers_and_partial()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        var m = Sample("sections");
        var multipart = new Multipart("mixed")
        {
            new TextPart("plain") { Text = "part one\r\n" },
            new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream([1, 2, 3, 0, 5])), ContentTransferEncoding = ContentEncoding.Base64, FileName = "x.bin" },
        };
        m.Body = multipart;
        var uid = (await client.Inbox.AppendAsync(m))!.Value;
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var headers = await client.Inbox.GetHeadersAsync(uid);
        Assert.Equal("sections", headers[HeaderId.Subject]);
        var summary = (await client.Inbox.FetchAsync([uid], MessageSummaryItems.BodyStructure))[0];
        var parts = summary.BodyParts.ToList();
        Assert.Equal(2, parts.Count);
        var part = await client.Inbox.GetBodyPartAsync(uid, parts[0]);
        Assert.Contains("part one", ((TextPart)part).Text, StringComparison.Ordinal);
        var attachment = (MimePart)await client.Inbox.GetBodyPartAsync(uid, parts[1]);
        using var decoded = new MemoryStream();
        await attachment.Content!.DecodeToAsync(decoded);
        Assert.Equal(new byte[] { 1, 2, 3, 0, 5 }, decoded.ToArray());
        using var stream = await client.Inbox.GetStreamAsync(uid, 0, 10);
        Assert.Equal(10, stream.Length);
        var fields = await client.Inbox.FetchAsync([uid], new FetchRequest(MessageSummaryItems.UniqueId) { Headers = new HeaderSet([HeaderId.Subject]) });
        Assert.Equal("sections", fields[0].Headers![HeaderId.Subject]);
        Assert.Null(fields[0].Headers![HeaderId.From]);
    }

    [Fact]
    public async Task Compress_deflate_keeps_the_session_working()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Compress));
        await client.CompressAsync();
        var uid = await client.Inbox.AppendAsync(Sample("compressed", new string('z', 20_000) + "\r\n"));
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var message = await client.Inbox.GetMessageAsync(uid!.Value);
        Assert.Equal("compressed", message.Subject);
        Assert.Contains(new string('z', 1000), message.TextBody!, StringComparison.Ordinal);
        await client.DisconnectAsync(true);
    }
}
