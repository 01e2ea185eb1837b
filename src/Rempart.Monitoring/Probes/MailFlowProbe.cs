using System.Diagnostics;
using System.Globalization;

namespace Rempart.Monitoring.Probes;

/// <summary>An end-to-end mail-flow probe: submit through <paramref name="Submission"/> (with AUTH), find in <paramref name="Imap"/>'s INBOX.</summary>
/// <param name="From">The envelope and header sender (the submission account's address, usually).</param>
/// <param name="To">The recipient whose INBOX <paramref name="Imap"/> logs in to.</param>
public sealed record MailFlowTarget(ProbeTarget Submission, ProbeTarget Imap, string From, string To);

/// <summary>
/// Sends a uniquely tagged message through SMTP submission, waits for it in the IMAP INBOX of the probe mailbox,
/// deletes it, and reports the end-to-end latency (from the start of the submission to the message being found).
/// </summary>
public static class MailFlowProbe
{
    /// <summary>The header that carries the probe's tag; searching for it finds only probe messages.</summary>
    public const string TagHeader = "X-Rempart-Probe";

    /// <summary>Prefix of every tag, so leftovers of earlier runs can be found.</summary>
    public const string TagPrefix = "rempart-probe-";

    /// <summary>Leftover probe messages older than this (a run that timed out before its message arrived) are deleted.</summary>
    private static readonly TimeSpan LeftoverAge = TimeSpan.FromHours(1);

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(2);

    /// <summary>Never throws for a failure of the servers; throws only when <paramref name="ct"/> is cancelled.</summary>
    public static async Task<ProbeOutcome> RunAsync(MailFlowTarget target, TimeSpan deadline, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        var name = "mail-flow " + target.From + " -> " + target.To;
        return await ProtocolProbe.RunGuardedAsync(name, deadline, async (recorder, token) =>
        {
            if (target.Imap.User is null || target.Submission.User is null)
            {
                throw new ProbeFailedException("the mail-flow probe needs credentials for both submission and IMAP");
            }

            // IMAP first: a wrong password is found before a message is left behind.
            await using var imapConnection = await ProbeConnection.ConnectAsync(target.Imap, recorder, token);
            if (target.Imap.Tls == ProbeTls.Implicit)
            {
                await imapConnection.UpgradeToTlsAsync(token);
            }

            var imap = new ImapProbeDialog(imapConnection, target.Imap);
            await imap.OpenAsync(token);
            await imap.CommandAsync("SELECT INBOX", "SELECT INBOX", token);
            await DeleteLeftoversAsync(imap, token);

            var tag = TagPrefix + DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)
                + "-" + Guid.NewGuid().ToString("N");
            var sent = Stopwatch.GetTimestamp();
            await using (var smtpConnection = await ProbeConnection.ConnectAsync(target.Submission, recorder, token))
            {
                if (target.Submission.Tls == ProbeTls.Implicit)
                {
                    await smtpConnection.UpgradeToTlsAsync(token);
                }

                var smtp = new SmtpProbeDialog(smtpConnection, target.Submission);
                await smtp.OpenAsync(token);
                await smtp.SendAsync(target.From, target.To, BuildMessage(target, tag, DateTimeOffset.UtcNow), token);
                await smtp.QuitAsync(token);
            }

            var delay = FirstPoll;
            var polls = 0;
            while (true)
            {
                // Bounded by the deadline's token: Task.Delay and every read observe it.
                polls++;
                var found = await imap.SearchHeaderAsync(TagHeader, tag, token);
                if (found.Count > 0)
                {
                    var latency = Stopwatch.GetElapsedTime(sent);
                    recorder.Latency = latency;
                    await imap.DeleteAsync(found, token);
                    await imap.CommandAsync("LOGOUT", "LOGOUT", token);
                    return string.Create(CultureInfo.InvariantCulture,
                        $"delivered to the INBOX of {target.Imap.User} in {latency.TotalSeconds:0.000} s ({polls} searches), deleted");
                }

                await Task.Delay(delay, token);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxPoll.Ticks));
            }
        }, ct);
    }

    internal static string BuildMessage(MailFlowTarget target, string tag, DateTimeOffset now) =>
        "From: <" + target.From + ">\r\n"
        + "To: <" + target.To + ">\r\n"
        + "Subject: Rempart mail-flow probe " + tag + "\r\n"
        + "Date: " + now.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture) + "\r\n"
        + "Message-ID: <" + tag + "@probe.rempart.invalid>\r\n"
        + TagHeader + ": " + tag + "\r\n"
        + "Auto-Submitted: auto-generated\r\n"
        + "MIME-Version: 1.0\r\n"
        + "Content-Type: text/plain; charset=us-ascii\r\n"
        + "\r\n"
        + "This message measures end-to-end mail flow; the probe that sent it deletes it when it arrives.\r\n";

    /// <summary>Deletes probe messages left by runs that timed out, once they are older than <see cref="LeftoverAge"/>.</summary>
    private static async Task DeleteLeftoversAsync(ImapProbeDialog imap, CancellationToken ct)
    {
        var candidates = await imap.SearchHeaderAsync(TagHeader, TagPrefix, ct);
        if (candidates.Count == 0)
        {
            return;
        }

        var set = string.Join(',', candidates.Take(500).Select(u => u.ToString(CultureInfo.InvariantCulture)));
        var fetch = await imap.CommandAsync("FETCH INTERNALDATE", "UID FETCH " + set + " (UID INTERNALDATE)", ct);
        var old = ParseInternalDates(fetch.Untagged)
            .Where(m => DateTimeOffset.UtcNow - m.Date > LeftoverAge)
            .Select(m => m.Uid)
            .ToList();
        if (old.Count > 0)
        {
            await imap.DeleteAsync(old, ct);
        }
    }

    /// <summary>Reads "* 5 FETCH (UID 17 INTERNALDATE "28-Nov-2026 04:01:02 +0000")" lines (RFC 9051 7.5.2).</summary>
    internal static IEnumerable<(uint Uid, DateTimeOffset Date)> ParseInternalDates(IEnumerable<string> untagged)
    {
        foreach (var line in untagged)
        {
            var uidAt = line.IndexOf("UID ", StringComparison.OrdinalIgnoreCase);
            var dateAt = line.IndexOf("INTERNALDATE \"", StringComparison.OrdinalIgnoreCase);
            if (uidAt < 0 || dateAt < 0)
            {
                continue;
            }

            var uidText = new string(line.AsSpan(uidAt + 4).ToArray().TakeWhile(char.IsAsciiDigit).ToArray());
            var dateStart = dateAt + 14;
            var dateEnd = line.IndexOf('"', dateStart);
            if (dateEnd < 0
                || !uint.TryParse(uidText, NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                || !DateTimeOffset.TryParseExact(line[dateStart..dateEnd].Trim(), ["d-MMM-yyyy HH:mm:ss zzz", "dd-MMM-yyyy HH:mm:ss zzz"],
                    CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                continue;
            }

            yield return (uid, date);
        }
    }
}
