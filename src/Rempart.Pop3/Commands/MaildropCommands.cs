using System.Buffers;
using System.Globalization;
using Rempart.Pop3.Protocol;
using Rempart.Store;

namespace Rempart.Pop3;

/// <summary>Thrown when a message body fails after "+OK" was sent: the response cannot be completed, so the
/// connection is closed (the client will see a truncated response rather than a wrong one).</summary>
internal sealed class MessageStreamException(string message, Exception inner) : Exception(message, inner);

/// <summary>TRANSACTION and UPDATE states: STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, QUIT (RFC 1939 sections 5-7).</summary>
internal sealed partial class Pop3Session
{
    private const string DeletedFlag = "\\Deleted";
    private const int ChunkSize = 16 * 1024;

    private IDisposable? _lockHolder;
    private long _accountId;
    private MailboxRecord? _mailbox;
    private MessageRecord[] _messages = [];
    private bool[] _deleted = [];

    /// <summary>Snapshots INBOX: message numbers are fixed for the whole session (RFC 1939 section 5).</summary>
    private async ValueTask<bool> OpenMaildropAsync(long accountId, CancellationToken ct)
    {
        var inbox = await _store.Messages.GetMailboxAsync(accountId, "INBOX", ct);
        if (inbox is null)
        {
            return false;
        }

        var all = await _store.Messages.ListMessagesAsync(inbox.Id, ct);

        // Messages an IMAP client already marked \Deleted are on their way out; POP3 does not show them.
        _messages = [.. all.Where(m => !m.Flags.Contains(DeletedFlag, StringComparer.OrdinalIgnoreCase)).OrderBy(m => m.Uid)];
        _deleted = new bool[_messages.Length];
        _mailbox = inbox;
        return true;
    }

    private void ReleaseMaildrop()
    {
        _lockHolder?.Dispose();
        _lockHolder = null;
    }

    private string MaildropSummary(string prefix)
    {
        var (count, size) = Totals();
        return string.Create(CultureInfo.InvariantCulture, $"{prefix}, {count} messages ({size} octets)");
    }

    private (int Count, long Size) Totals()
    {
        var count = 0;
        long size = 0;
        for (var i = 0; i < _messages.Length; i++)
        {
            if (!_deleted[i])
            {
                count++;
                size += _messages[i].Size;
            }
        }

        return (count, size);
    }

    /// <summary>Finds message number <paramref name="number"/>, or writes the -ERR and returns -1.</summary>
    private int Lookup(long number)
    {
        if (number < 1 || number > _messages.Length)
        {
            WriteErr(string.Create(CultureInfo.InvariantCulture, $"No such message: {number}"));
            return -1;
        }

        var index = (int)(number - 1);
        if (_deleted[index])
        {
            WriteErr(string.Create(CultureInfo.InvariantCulture, $"Message {number} is deleted"));
            return -1;
        }

        return index;
    }

    private Pop3Outcome Stat()
    {
        var (count, size) = Totals();
        WriteOk(string.Create(CultureInfo.InvariantCulture, $"{count} {size}"));
        return Pop3Outcome.Continue;
    }

    private Pop3Outcome List(Pop3Command command)
    {
        if (command.Numbers.Count == 1)
        {
            var index = Lookup(command.Numbers[0]);
            if (index < 0)
            {
                return CountError("LIST of a missing message");
            }

            WriteOk(string.Create(CultureInfo.InvariantCulture, $"{index + 1} {_messages[index].Size}"));
            return Pop3Outcome.Continue;
        }

        WriteOk(MaildropSummary("Scan listing follows"));
        for (var i = 0; i < _messages.Length; i++)
        {
            if (!_deleted[i])
            {
                WriteRaw(string.Create(CultureInfo.InvariantCulture, $"{i + 1} {_messages[i].Size}"));
            }
        }

        WriteTerminator();
        return Pop3Outcome.Continue;
    }

    /// <summary>RFC 1939 section 7: a unique-id of 1 to 70 characters in 0x21-0x7E, stable across sessions. The
    /// mailbox UIDVALIDITY and the message UID identify a message for as long as it exists.</summary>
    private string UniqueId(int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{_mailbox!.UidValidity}.{_messages[index].Uid}");

    private Pop3Outcome Uidl(Pop3Command command)
    {
        if (command.Numbers.Count == 1)
        {
            var index = Lookup(command.Numbers[0]);
            if (index < 0)
            {
                return CountError("UIDL of a missing message");
            }

            WriteOk(string.Create(CultureInfo.InvariantCulture, $"{index + 1} {UniqueId(index)}"));
            return Pop3Outcome.Continue;
        }

        WriteOk("Unique-id listing follows");
        for (var i = 0; i < _messages.Length; i++)
        {
            if (!_deleted[i])
            {
                WriteRaw(string.Create(CultureInfo.InvariantCulture, $"{i + 1} {UniqueId(i)}"));
            }
        }

        WriteTerminator();
        return Pop3Outcome.Continue;
    }

    private ValueTask<Pop3Outcome> RetrAsync(Pop3Command command, CancellationToken ct) => SendMessageAsync(command.Numbers[0], null, ct);

    private ValueTask<Pop3Outcome> TopAsync(Pop3Command command, CancellationToken ct) => SendMessageAsync(command.Numbers[0], command.Numbers[1], ct);

    private async ValueTask<Pop3Outcome> SendMessageAsync(long number, long? bodyLines, CancellationToken ct)
    {
        var index = Lookup(number);
        if (index < 0)
        {
            return CountError("retrieval of a missing message");
        }

        var message = _messages[index];

        // Open before "+OK" so a missing body is an ordinary -ERR [SYS/TEMP] and the session goes on.
        var content = _store.Blobs.Open(message.BlobHash);
        await using (content)
        {
            WriteOk(bodyLines is null
                ? string.Create(CultureInfo.InvariantCulture, $"{message.Size} octets")
                : "Top of message follows");
            var writer = new MultilineWriter(Output, bodyLines);
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            try
            {
                while (true)
                {
                    int read;
                    try
                    {
                        read = await content.ReadAsync(chunk.AsMemory(0, ChunkSize), ct);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        throw new MessageStreamException("Reading message " + message.Id + " failed", ex);
                    }

                    if (read == 0 || !writer.Write(chunk.AsSpan(0, read)))
                    {
                        break;
                    }

                    await FlushAsync();
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            writer.Complete();
        }

        return Pop3Outcome.Continue;
    }

    private Pop3Outcome Dele(Pop3Command command)
    {
        var index = Lookup(command.Numbers[0]);
        if (index < 0)
        {
            return CountError("DELE of a missing message");
        }

        _deleted[index] = true;
        WriteOk(string.Create(CultureInfo.InvariantCulture, $"Message {index + 1} deleted"));
        return Pop3Outcome.Continue;
    }

    private Pop3Outcome Noop()
    {
        WriteOk("Nothing done");
        return Pop3Outcome.Continue;
    }

    private Pop3Outcome Rset()
    {
        Array.Clear(_deleted);
        WriteOk(MaildropSummary("Maildrop reset"));
        return Pop3Outcome.Continue;
    }

    private async ValueTask<Pop3Outcome> QuitAsync(CancellationToken ct)
    {
        if (_state == Pop3State.Authorization)
        {
            WriteOk("Bye");
            return Pop3Outcome.Close;
        }

        // RFC 1939 section 6: the UPDATE state removes the messages marked deleted, then releases the maildrop.
        _state = Pop3State.Update;
        var uids = new List<long>();
        for (var i = 0; i < _messages.Length; i++)
        {
            if (_deleted[i])
            {
                uids.Add(_messages[i].Uid);
            }
        }

        try
        {
            if (uids.Count > 0)
            {
                await _store.Messages.StoreFlagsAsync(_mailbox!.Id, uids, FlagOperation.Add, [DeletedFlag], null, ct);
                await _store.Messages.ExpungeAsync(_mailbox.Id, uids, ct);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Pop3Log.InternalError(_logger, ex, _connection.Id, "QUIT");
            ReleaseMaildrop();
            WriteErr("[SYS/TEMP] Some deleted messages were not removed");
            return Pop3Outcome.Close;
        }

        ReleaseMaildrop();
        var (count, _) = Totals();
        WriteOk(string.Create(CultureInfo.InvariantCulture, $"Bye, {uids.Count} messages deleted, {count} left"));
        return Pop3Outcome.Close;
    }
}
