using Rempart.Imap.Protocol;

namespace Rempart.Imap;

/// <summary>
/// IDLE (RFC 2177, RFC 9051 section 6.3.13): woken by the change bus only, which also carries other processes' writes
/// (the store watches for them once for everybody), so a session in IDLE costs no timer, no poll and no allocation
/// until something happens to its mailbox.
/// </summary>
public sealed partial class ImapSession
{
    private async Task IdleAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 0);
        _writer.Continuation("idling");
        await SyncAsync(allowExpunge: true, ct);
        await _writer.FlushAsync(ct);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var done = ReadLineAsync(_options.Imap.IdleTimeout, stop.Token);
        Task? wake = null;
        try
        {
            while (!done.IsCompleted)
            {
                if (_wake is { } semaphore && (wake is null || wake.IsCompleted))
                {
                    wake = semaphore.WaitAsync(stop.Token);
                }

                await (wake is null ? (Task)done : Task.WhenAny(done, wake));
                if (done.IsCompleted)
                {
                    break;
                }

                if (_state == ImapState.Selected)
                {
                    await SyncAsync(allowExpunge: true, ct);
                    await _writer.FlushAsync(ct);
                }

                if (_state == ImapState.Logout)
                {
                    return;
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            if (wake is not null)
            {
                try
                {
                    await wake;
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
                {
                }
            }
        }

        var line = await done;
        if (line is null)
        {
            throw new IOException("Client closed the connection during IDLE");
        }

        if (!line.Trim().Equals("DONE", StringComparison.OrdinalIgnoreCase))
        {
            Bad("Expected DONE");
            return;
        }

        Ok("IDLE terminated");
    }
}
