using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Rempart.Imap.Tests.Sessions;

/// <summary>
/// A selected session follows other sessions' changes by mod-sequence. These tests keep a client-side model of the
/// mailbox built only from the untagged EXISTS / EXPUNGE / FETCH a session receives, and compare it with a fresh
/// EXAMINE of the mailbox after interleaved appends, flag changes and expunges.
/// </summary>
public sealed partial class ViewRefreshTests
{
    [Fact]
    public async Task A_session_model_built_from_untagged_responses_matches_the_mailbox_under_interleaved_changes()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var a = await RawImapClient.ConnectAndLoginAsync(server);
        await using var b = await RawImapClient.ConnectAndLoginAsync(server);
        await using var c = await RawImapClient.ConnectAndLoginAsync(server);
        for (var i = 0; i < 4; i++)
        {
            await AppendAsync(b, "seed" + i, flags: i == 0 ? "(\\Seen)" : null);
        }

        await SelectAsync(b);
        var model = new List<Entry>();
        Apply(model, await CommandAsync(a, "SELECT INBOX"));
        Apply(model, await CommandAsync(a, "FETCH 1:* (UID FLAGS)"));
        await VerifyAsync(model, c);

        var rng = new Random(20261128);
        for (var step = 0; step < 60; step++)
        {
            var uids = await UidsAsync(b);
            switch (rng.Next(5))
            {
                case 0:
                    await AppendAsync(b, "step" + step, flags: rng.Next(2) == 0 ? "(\\Flagged)" : null);
                    break;
                case 1 when uids.Count > 0:
                    var uid = uids[rng.Next(uids.Count)];
                    var change = rng.Next(3) switch { 0 => "+FLAGS (\\Seen)", 1 => "-FLAGS (\\Seen)", _ => "+FLAGS ($Label" + rng.Next(3) + ")" };
                    await CommandAsync(b, $"UID STORE {uid} {change}");
                    break;
                case 2 when uids.Count > 1:
                    await CommandAsync(b, $"UID STORE {uids[rng.Next(uids.Count)]} +FLAGS.SILENT (\\Deleted)");
                    await CommandAsync(b, "EXPUNGE");
                    break;
                default:
                    await AppendAsync(b, "extra" + step, flags: null);
                    break;
            }

            // A uses commands with and without sequence numbers; only the latter may carry EXPUNGE.
            switch (rng.Next(4))
            {
                case 0:
                    Apply(model, await CommandAsync(a, "NOOP"));
                    await VerifyAsync(model, c);
                    break;
                case 1 when model.Count > 0:
                    // UID only: flag changes must reach the model through the session's own untagged FETCH FLAGS.
                    var fetch = await CommandAsync(a, "FETCH 1:* (UID)");
                    Assert.DoesNotContain(fetch, l => l.EndsWith(" EXPUNGE", StringComparison.Ordinal));
                    Apply(model, fetch);
                    break;
                case 2:
                    var search = await CommandAsync(a, "SEARCH ALL");
                    Assert.DoesNotContain(search, l => l.EndsWith(" EXPUNGE", StringComparison.Ordinal));
                    Apply(model, search);
                    var numbers = search.Single(l => l.StartsWith("* SEARCH", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(2);
                    Assert.Equal(Enumerable.Range(1, model.Count).Select(n => n.ToString(CultureInfo.InvariantCulture)), numbers);
                    break;
                default:
                    Apply(model, await CommandAsync(a, "UID SEARCH ALL"));
                    break;
            }
        }

        Apply(model, await CommandAsync(a, "NOOP"));
        await VerifyAsync(model, c);
    }

    [Fact]
    public async Task Messages_removed_without_an_expunge_record_are_still_reported()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var a = await RawImapClient.ConnectAndLoginAsync(server);
        await using var b = await RawImapClient.ConnectAndLoginAsync(server);
        await using var c = await RawImapClient.ConnectAndLoginAsync(server);
        for (var i = 0; i < 3; i++)
        {
            await AppendAsync(b, "m" + i, flags: null);
        }

        var model = new List<Entry>();
        Apply(model, await CommandAsync(a, "SELECT INBOX"));
        Apply(model, await CommandAsync(a, "FETCH 1:* (UID FLAGS)"));

        // Another process removing a row directly (no mod-sequence, no expunge record): the message count disagrees
        // with the view, so the session compares the whole list.
        var builder = new SqliteConnectionStringBuilder { DataSource = server.Store.DatabasePath, Pooling = false };
        await using (var raw = new SqliteConnection(builder.ToString()))
        {
            await raw.OpenAsync();
            await using var delete = raw.CreateCommand();
            delete.CommandText = "DELETE FROM messages WHERE uid = 2";
            Assert.Equal(1, await delete.ExecuteNonQueryAsync());
        }

        var noop = await CommandAsync(a, "NOOP");
        Assert.Contains("* 2 EXPUNGE", noop);
        Apply(model, noop);
        await VerifyAsync(model, c);

        await AppendAsync(b, "after", flags: null);
        var next = await CommandAsync(a, "NOOP");
        Assert.Contains("* 3 EXISTS", next);
        Apply(model, next);
        await VerifyAsync(model, c);
    }

    private static int s_tag;

    private static async Task<List<string>> CommandAsync(RawImapClient client, string command)
    {
        var tag = "t" + Interlocked.Increment(ref s_tag).ToString(CultureInfo.InvariantCulture);
        await client.SendAsync(tag + " " + command + "\r\n");
        var lines = await client.ReadUntilAsync(tag + " ", 2000);
        Assert.StartsWith(tag + " OK", lines[^1], StringComparison.Ordinal);
        return lines;
    }

    private static async Task SelectAsync(RawImapClient client) => await CommandAsync(client, "SELECT INBOX");

    private static async Task AppendAsync(RawImapClient client, string subject, string? flags)
    {
        var message = $"Subject: {subject}\r\n\r\nbody\r\n";
        await CommandAsync(client, $"APPEND INBOX {(flags is null ? string.Empty : flags + " ")}{{{message.Length}+}}\r\n{message}");
    }

    private static async Task<List<long>> UidsAsync(RawImapClient client)
    {
        var lines = await CommandAsync(client, "UID SEARCH ALL");
        return [.. lines.Single(l => l.StartsWith("* SEARCH", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(2).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
    }

    /// <summary>What the client knows of one message: its UID and flags once a FETCH told it.</summary>
    private sealed class Entry
    {
        public long? Uid { get; set; }

        public SortedSet<string>? Flags { get; set; }
    }

    /// <summary>Applies untagged EXISTS, EXPUNGE and FETCH lines, in order, as a client would.</summary>
    private static void Apply(List<Entry> model, List<string> lines)
    {
        foreach (var line in lines)
        {
            var exists = ExistsLine().Match(line);
            if (exists.Success)
            {
                var n = int.Parse(exists.Groups[1].Value, CultureInfo.InvariantCulture);
                Assert.True(n >= model.Count, $"EXISTS {n} below the known count {model.Count}");
                while (model.Count < n)
                {
                    model.Add(new Entry());
                }

                continue;
            }

            var expunge = ExpungeLine().Match(line);
            if (expunge.Success)
            {
                var n = int.Parse(expunge.Groups[1].Value, CultureInfo.InvariantCulture);
                Assert.InRange(n, 1, model.Count);
                model.RemoveAt(n - 1);
                continue;
            }

            var fetch = FetchLine().Match(line);
            if (fetch.Success)
            {
                var n = int.Parse(fetch.Groups[1].Value, CultureInfo.InvariantCulture);
                Assert.InRange(n, 1, model.Count);
                var entry = model[n - 1];
                var uid = UidItem().Match(fetch.Groups[2].Value);
                if (uid.Success)
                {
                    var value = long.Parse(uid.Groups[1].Value, CultureInfo.InvariantCulture);
                    Assert.True(entry.Uid is null || entry.Uid == value, $"FETCH {n} says UID {value}, the model has {entry.Uid}");
                    entry.Uid = value;
                }

                var flags = FlagsItem().Match(fetch.Groups[2].Value);
                if (flags.Success)
                {
                    entry.Flags = new SortedSet<string>(flags.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
                }
            }
        }
    }

    /// <summary>Compares the model with a fresh EXAMINE; entries the model knows nothing of yet are learnt from it.</summary>
    private static async Task VerifyAsync(List<Entry> model, RawImapClient fresh)
    {
        await CommandAsync(fresh, "EXAMINE INBOX");
        var truth = new List<(long Uid, SortedSet<string> Flags)>();
        foreach (var line in await CommandAsync(fresh, "FETCH 1:* (UID FLAGS)"))
        {
            var fetch = FetchLine().Match(line);
            if (fetch.Success)
            {
                truth.Add((long.Parse(UidItem().Match(fetch.Groups[2].Value).Groups[1].Value, CultureInfo.InvariantCulture),
                    new SortedSet<string>(FlagsItem().Match(fetch.Groups[2].Value).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal)));
            }
        }

        Assert.Equal(truth.Count, model.Count);
        for (var i = 0; i < truth.Count; i++)
        {
            var entry = model[i];
            if (entry.Uid is { } uid)
            {
                Assert.Equal(truth[i].Uid, uid);
            }

            if (entry.Flags is { } flags && entry.Uid is not null)
            {
                Assert.True(truth[i].Flags.SetEquals(flags), $"message {i + 1} (UID {truth[i].Uid}): model ({string.Join(' ', flags)}), mailbox ({string.Join(' ', truth[i].Flags)})");
            }

            entry.Uid = truth[i].Uid;
            entry.Flags = truth[i].Flags;
        }
    }

    [GeneratedRegex(@"^\* (\d+) EXISTS$")]
    private static partial Regex ExistsLine();

    [GeneratedRegex(@"^\* (\d+) EXPUNGE$")]
    private static partial Regex ExpungeLine();

    [GeneratedRegex(@"^\* (\d+) FETCH \((.*)\)$")]
    private static partial Regex FetchLine();

    [GeneratedRegex(@"\bUID (\d+)")]
    private static partial Regex UidItem();

    [GeneratedRegex(@"\bFLAGS \(([^)]*)\)")]
    private static partial Regex FlagsItem();
}
