using System.Globalization;
using System.Text;
using Rempart.Imap.Protocol;

namespace Rempart.Imap;

/// <summary>GETQUOTA, GETQUOTAROOT (RFC 9208). One quota root, "", per account.</summary>
public sealed partial class ImapSession
{
    private async Task GetQuotaAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 1);
        if (AString(c.Args[0]).Length != 0)
        {
            No("[NONEXISTENT] No such quota root");
            return;
        }

        await WriteQuotaAsync(ct);
        Ok("GETQUOTA completed");
    }

    private async Task GetQuotaRootAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 1);
        var name = MailboxName(c.Args[0]);
        if (await FindMailboxAsync(name, ct) is null)
        {
            No("[NONEXISTENT] No such mailbox");
            return;
        }

        _writer.Untagged("QUOTAROOT " + WireName(name) + " \"\"");
        await WriteQuotaAsync(ct);
        Ok("GETQUOTAROOT completed");
    }

    private async Task WriteQuotaAsync(CancellationToken ct)
    {
        var usage = await _store.Messages.GetQuotaAsync(Account.Id, ct);
        var sb = new StringBuilder("QUOTA \"\" (");
        var any = false;
        if (usage.MaxBytes is { } maxBytes)
        {
            // RFC 9208 section 5.1: STORAGE is in units of 1024 octets.
            sb.Append(CultureInfo.InvariantCulture, $"STORAGE {(usage.UsedBytes + 1023) / 1024} {maxBytes / 1024}");
            any = true;
        }

        if (usage.MaxMessages is { } maxMessages)
        {
            sb.Append(any ? " " : string.Empty).Append(CultureInfo.InvariantCulture, $"MESSAGE {usage.UsedMessages} {maxMessages}");
        }

        _writer.Untagged(sb.Append(')').ToString());
    }
}
