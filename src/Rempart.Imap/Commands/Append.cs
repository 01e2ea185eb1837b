using System.Globalization;
using Rempart.Imap.Protocol;
using Rempart.Telemetry;

namespace Rempart.Imap;

/// <summary>APPEND (RFC 9051 section 6.3.12; RFC 4315 APPENDUID; RFC 3502 MULTIAPPEND is not offered).</summary>
public sealed partial class ImapSession
{
    private async Task AppendAsync(ImapCommand c, CancellationToken ct)
    {
        if (c.Args.Count is < 2 or > 4)
        {
            throw new CommandSyntaxException("APPEND mailbox [(flags)] [date-time] literal");
        }

        var name = MailboxName(c.Args[0]);
        var flags = new List<string>();
        var internalDate = DateTimeOffset.UtcNow;
        for (var i = 1; i < c.Args.Count - 1; i++)
        {
            var arg = c.Args[i];
            if (arg.Kind == ImapArgKind.List)
            {
                flags = ParseFlagList(arg, allowRecent: false);
            }
            else if (arg.Kind == ImapArgKind.Quoted && ImapText.TryParseDateTime(arg.Text, out var date))
            {
                internalDate = date;
            }
            else
            {
                throw new CommandSyntaxException("Invalid APPEND flags or date-time");
            }
        }

        var message = c.Args[^1];
        if (message.Kind != ImapArgKind.Literal)
        {
            throw new CommandSyntaxException("APPEND message must be a literal");
        }

        if (message.Data.Length == 0)
        {
            No("Empty message");
            return;
        }

        // Only the id: the full mailbox record counts every message of the mailbox.
        if (await _store.Messages.FindMailboxIdAsync(Account.Id, name, ct) is not { } mailboxId)
        {
            No("[TRYCREATE] No such mailbox");
            return;
        }

        var blob = await _store.Blobs.PutAsync(message.Data, ct);
        var result = await _store.Messages.AppendAsync(mailboxId, blob, flags, internalDate, ct);
        RempartMetrics.MessagesReceived.WithLabels("imap-append").Inc();
        Ok("[APPENDUID " + result.UidValidity.ToString(CultureInfo.InvariantCulture) + " " + result.Uid.ToString(CultureInfo.InvariantCulture) + "] APPEND completed");
    }

    /// <summary>A flag list: system flags (case normalised) and keywords (atoms).</summary>
    private static List<string> ParseFlagList(ImapArg arg, bool allowRecent)
    {
        var items = arg.Kind == ImapArgKind.List ? arg.Items : [arg];
        var flags = new List<string>();
        foreach (var item in items)
        {
            if (item.Kind != ImapArgKind.Atom)
            {
                throw new CommandSyntaxException("Flags must be atoms");
            }

            var text = item.Text;
            if (text.StartsWith('\\'))
            {
                var system = Array.Find(s_systemFlags, f => f.Equals(text, StringComparison.OrdinalIgnoreCase));
                if (system is null)
                {
                    if (allowRecent && text.Equals("\\Recent", StringComparison.OrdinalIgnoreCase))
                    {
                        continue;
                    }

                    throw new CommandSyntaxException("Unknown system flag " + text);
                }

                text = system;
            }
            else if (text.Length > 100 || text.Contains('*', StringComparison.Ordinal) || text.Contains('%', StringComparison.Ordinal))
            {
                throw new CommandSyntaxException("Invalid keyword");
            }

            if (!flags.Contains(text, StringComparer.OrdinalIgnoreCase))
            {
                flags.Add(text);
            }
        }

        return flags;
    }
}
