using System.Globalization;
using MailKit;
using MailKit.Search;
using MimeKit;

namespace Rempart.Integration.Tests;

/// <summary>Rempart's IMAP listeners driven by real IMAP clients: python3 imaplib, curl and mbsync.</summary>
[Collection(InteropCollection.Name)]
public sealed class ImapClientInteropTests(SharedServerFixture fixture) : IClassFixture<SharedServerFixture>
{
    private readonly ServerProcess _server = fixture.Server;

    private string P(string listener) => _server.Port(listener).ToString(CultureInfo.InvariantCulture);

    /// <summary>Appends messages with MailKit; returns their UIDs in order.</summary>
    private async Task<List<UniqueId>> AppendAsync(string user, string pw, params MimeMessage[] messages)
    {
        using var imap = await MailProbe.ImapAsync(_server, user, pw);
        var uids = new List<UniqueId>();
        foreach (var m in messages)
        {
            var uid = await imap.Inbox.AppendAsync(m, MessageFlags.None);
            if (uid is { } u)
            {
                uids.Add(u);
            }
        }

        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        if (uids.Count != messages.Length)
        {
            // Without UIDPLUS, find them by Message-ID.
            uids.Clear();
            foreach (var m in messages)
            {
                uids.AddRange(await imap.Inbox.SearchAsync(SearchQuery.HeaderContains("Message-ID", m.MessageId ?? string.Empty)));
            }
        }

        await imap.DisconnectAsync(true);
        return uids;
    }

    private const string ImaplibScript = """
        import imaplib, ssl, sys, time
        mode, host, port, user, pw, marker = sys.argv[1:7]
        ctx = ssl._create_unverified_context()
        if mode == "ssl":
            M = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
        else:
            M = imaplib.IMAP4(host, int(port), timeout=30)
            typ, data = M.starttls(ssl_context=ctx)
            if typ != "OK":
                sys.exit("STARTTLS: %s %r" % (typ, data))

        def ok(res, what):
            typ, data = res
            if typ != "OK":
                sys.exit("%s failed: %s %r" % (what, typ, data))
            return data

        ok(M.login(user, pw), "LOGIN")
        for i in (1, 2, 3):
            msg = ("From: py@elsewhere.test\r\nTo: %s\r\nSubject: %s %d\r\nMessage-ID: <%s-%d@py.test>\r\n\r\nbody number %d\r\n"
                   % (user, marker, i, marker, i, i)).encode()
            flags = r"(\Flagged)" if i == 1 else None
            ok(M.append("INBOX", flags, imaplib.Time2Internaldate(time.time()), msg), "APPEND %d" % i)
        count = int(ok(M.select("INBOX"), "SELECT")[0])
        if count < 3:
            sys.exit("SELECT says %d messages" % count)
        uids = ok(M.uid("SEARCH", None, "SUBJECT", marker), "UID SEARCH")[0].split()
        if len(uids) != 3:
            sys.exit("SEARCH SUBJECT found %r" % uids)
        flagged = ok(M.uid("SEARCH", None, "FLAGGED"), "SEARCH FLAGGED")[0].split()
        if flagged != [uids[0]]:
            sys.exit("SEARCH FLAGGED found %r, expected %r" % (flagged, uids[:1]))
        data = ok(M.uid("FETCH", uids[1], "(FLAGS RFC822.SIZE BODY.PEEK[])"), "UID FETCH")
        body = data[0][1]
        if b"body number 2" not in body:
            sys.exit("FETCH body: %r" % body)
        hdr = ok(M.uid("FETCH", uids[2], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH HEADER.FIELDS")[0][1]
        if (marker + " 3").encode() not in hdr:
            sys.exit("FETCH HEADER.FIELDS: %r" % hdr)
        ok(M.uid("STORE", uids[1], "+FLAGS", r"(\Deleted \Seen)"), "UID STORE")
        flags = ok(M.uid("FETCH", uids[1], "(FLAGS)"), "FETCH FLAGS")[0]
        if b"\\Deleted" not in flags or b"\\Seen" not in flags:
            sys.exit("flags after STORE: %r" % flags)
        expunged = ok(M.expunge(), "EXPUNGE")
        if not expunged or expunged == [None]:
            sys.exit("EXPUNGE reported nothing: %r" % expunged)
        left = ok(M.uid("SEARCH", None, "SUBJECT", marker), "SEARCH after EXPUNGE")[0].split()
        if left != [uids[0], uids[2]]:
            sys.exit("after EXPUNGE: %r" % left)
        ok(M.close(), "CLOSE")
        typ, data = M.logout()
        if typ != "BYE":
            sys.exit("LOGOUT: %s %r" % (typ, data))
        print("IMAPLIB OK")
        """;

    [Theory]
    [InlineData("ssl", "imaps")]
    [InlineData("starttls", "imap")]
    public async Task Python_imaplib_logs_in_appends_searches_fetches_stores_and_expunges(string mode, string listener)
    {
        var (user, pw) = await MailProbe.NewUserAsync(_server, "imaplib");
        var marker = "imaplib" + Guid.NewGuid().ToString("n")[..8];
        var r = await ExternalTool.PythonAsync(ImaplibScript, TimeSpan.FromSeconds(90), mode, "127.0.0.1", P(listener), user, pw, marker);
        Assert.True(r.ExitCode == 0 && r.Stdout.Contains("IMAPLIB OK", StringComparison.Ordinal), r.ToString());

        // What imaplib did is what the server holds: messages 1 and 3, the first flagged, number 2 gone.
        using var imap = await MailProbe.ImapAsync(_server, user, pw);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var all = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
        Assert.Equal([marker + " 1", marker + " 3"], all.Select(s => Subject(s)).Order(StringComparer.Ordinal));
        Assert.True(all.Single(s => Subject(s) == marker + " 1").Flags!.Value.HasFlag(MessageFlags.Flagged));
    }

    [Fact]
    public async Task Curl_lists_searches_and_fetches_by_uid_over_imaps_and_imap_with_starttls()
    {
        var curl = ExternalTool.Require("curl", "curl");
        var (user, pw) = await MailProbe.NewUserAsync(_server, "curlimap");
        var marker = "curlimap" + Guid.NewGuid().ToString("n")[..8];
        var uids = await AppendAsync(user, pw,
            MailProbe.Message("a@elsewhere.test", user, marker + " first", "first body"),
            MailProbe.Message("a@elsewhere.test", user, marker + " second", "second body"));
        Assert.Equal(2, uids.Count);

        async Task<ToolResult> Curl(params string[] args)
        {
            var r = await ExternalTool.RunAsync(curl, ["--silent", "--show-error", "--max-time", "30", "-k", "-u", user + ":" + pw, .. args], timeout: TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.ToString());
            return r;
        }

        var list = await Curl("--url", $"imaps://127.0.0.1:{P("imaps")}/");
        Assert.Contains("INBOX", list.Stdout, StringComparison.Ordinal);

        var second = await Curl("--url", $"imaps://127.0.0.1:{P("imaps")}/INBOX;UID={uids[1].Id.ToString(CultureInfo.InvariantCulture)}");
        Assert.Contains("Subject: " + marker + " second", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("second body", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("first body", second.Stdout, StringComparison.Ordinal);

        var first = await Curl("--ssl-reqd", "--url", $"imap://127.0.0.1:{P("imap")}/INBOX;UID={uids[0].Id.ToString(CultureInfo.InvariantCulture)}");
        Assert.Contains("first body", first.Stdout, StringComparison.Ordinal);

        var search = await Curl("--url", $"imaps://127.0.0.1:{P("imaps")}/INBOX?SUBJECT%20{marker}");
        Assert.Matches(@"\* SEARCH \d+ \d+", search.Stdout);
    }

    [Fact]
    public async Task Mbsync_synchronises_a_maildir_both_ways_without_losing_anything()
    {
        var mbsync = ExternalTool.Require("mbsync", "isync");
        var (user, pw) = await MailProbe.NewUserAsync(_server, "mbsync");
        var marker = "mbsync" + Guid.NewGuid().ToString("n")[..8];
        var originals = Enumerable.Range(1, 3).Select(i => MailProbe.Message("a@elsewhere.test", user, $"{marker} {i}", $"original body {i}")).ToArray();
        Assert.Equal(3, (await AppendAsync(user, pw, originals)).Count);

        using var tmp = new TempFolder("rempart-mbsync");
        var inbox = Path.Combine(tmp.Path, "mail", "INBOX");
        Directory.CreateDirectory(Path.Combine(tmp.Path, "mail"));
        var rc = Path.Combine(tmp.Path, "mbsyncrc");
        await File.WriteAllTextAsync(rc, $"""
            IMAPAccount rempart
            Host 127.0.0.1
            Port {P("imaps")}
            User {user}
            Pass {pw}
            SSLType IMAPS
            SystemCertificates no
            CertificateFile {Path.Combine(_server.DataDir, "tls", "selfsigned.crt")}
            AuthMechs LOGIN
            Timeout 30

            IMAPStore remote
            Account rempart

            MaildirStore local
            Path {tmp.Path}/mail/
            Inbox {inbox}
            SubFolders Verbatim

            Channel sync
            Far :remote:
            Near :local:
            Patterns INBOX
            Create Both
            Expunge Both
            SyncState *

            """);

        async Task Sync()
        {
            var r = await ExternalTool.RunAsync(mbsync, ["-V", "-c", rc, "-a"], timeout: TimeSpan.FromSeconds(90),
                environment: new Dictionary<string, string> { ["HOME"] = tmp.Path });
            Assert.True(r.ExitCode == 0, r.ToString());
        }

        string[] LocalFiles() => [.. new[] { "cur", "new" }.Select(d => Path.Combine(inbox, d)).Where(Directory.Exists).SelectMany(Directory.GetFiles)];

        // Down: the three messages arrive intact.
        await Sync();
        var local = LocalFiles();
        Assert.Equal(3, local.Length);
        for (var i = 1; i <= 3; i++)
        {
            Assert.Single(local, f => File.ReadAllText(f).Contains($"original body {i}", StringComparison.Ordinal));
        }

        // Local changes: a new message written into the Maildir, and message 2 flagged (the F maildir flag).
        var added = MailProbe.Message("local@elsewhere.test", user, marker + " 4", "written locally");
        await File.WriteAllTextAsync(Path.Combine(inbox, "new", "1700000000.R" + Guid.NewGuid().ToString("n")[..8] + ".interop"), ToText(added));
        var two = local.Single(f => File.ReadAllText(f).Contains("original body 2", StringComparison.Ordinal));
        var name = Path.GetFileName(two);
        var colon = name.IndexOf(":2,", StringComparison.Ordinal);
        var (stem, flags) = colon < 0 ? (name, string.Empty) : (name[..colon], name[(colon + 3)..]);
        File.Move(two, Path.Combine(inbox, "cur", stem + ":2," + new string([.. (flags + "F").Distinct().Order()])));

        // Up: the server gets both changes; nothing is lost on either side.
        await Sync();
        using var imap = await MailProbe.ImapAsync(_server, user, pw);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.UniqueId);
        Assert.Equal([$"{marker} 1", $"{marker} 2", $"{marker} 3", $"{marker} 4"], summaries.Select(s => Subject(s)).Order(StringComparer.Ordinal));
        foreach (var s in summaries)
        {
            var flagged = s.Flags!.Value.HasFlag(MessageFlags.Flagged);
            Assert.True(flagged == (Subject(s) == marker + " 2"), $"{Subject(s)}: flags {s.Flags}");
        }

        var up = await imap.Inbox.GetMessageAsync(summaries.Single(s => Subject(s) == marker + " 4").UniqueId);
        Assert.Equal(added.MessageId, up.MessageId);
        Assert.Contains("written locally", up.TextBody, StringComparison.Ordinal);
        for (var i = 1; i <= 3; i++)
        {
            var m = await imap.Inbox.GetMessageAsync(summaries.Single(s => Subject(s) == $"{marker} {i}").UniqueId);
            Assert.Equal(originals[i - 1].MessageId, m.MessageId);
            Assert.Contains($"original body {i}", m.TextBody, StringComparison.Ordinal);
        }

        await imap.DisconnectAsync(true);
        Assert.Equal(4, LocalFiles().Length);
    }

    private static string Subject(IMessageSummary s) => s.Envelope?.Subject ?? string.Empty;

    private static string ToText(MimeMessage m)
    {
        using var s = new MemoryStream();
        m.WriteTo(FormatOptions.Default, s);
        return System.Text.Encoding.UTF8.GetString(s.ToArray());
    }
}
