using System.Buffers;
using System.IO.Pipelines;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Pop3.Protocol;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Common.Text;

namespace Rempart.Pop3;

/// <summary>What the read loop does after a command.</summary>
internal enum Pop3Outcome
{
    Continue,
    Close,
    StartTls,
}

/// <summary>
/// One POP3 session: the read loop and reply helpers live here; command families are in Commands/ (one file each,
/// house style habit 6). Syntax comes from <see cref="Pop3Parser"/>, state checks from <see cref="Pop3StateTable"/>.
/// </summary>
internal sealed partial class Pop3Session
{
    private readonly NetConnection _connection;
    private readonly IMailStore _store;
    private readonly IAuthService _auth;
    private readonly RempartOptions _options;
    private readonly ListenerLimits _limits;
    private readonly ILogger _logger;
    private readonly MaildropLockTable _locks;
    private readonly bool _transcript;
    private Pop3State _state = Pop3State.Authorization;
    private int _errors;

    public Pop3Session(NetConnection connection, IMailStore store, IAuthService auth, RempartOptions options, ListenerLimits limits, ILogger logger)
    {
        _connection = connection;
        _store = store;
        _auth = auth;
        _options = options;
        _limits = limits;
        _logger = logger;
        _locks = MaildropLockTable.For(store);
        _transcript = options.Logging.Protocol && logger.IsEnabled(LogLevel.Debug);
    }

    private PipeWriter Output => _connection.Output;

    public async Task RunAsync(CancellationToken shutdown)
    {
        Pop3Log.SessionStarted(_logger, _connection.Id, _connection.RemoteEndPoint.ToString(), _connection.ListenerName, _connection.IsSecure);
        var command = "greeting";
        try
        {
            WriteOk(_options.HostName + " Rempart POP3 server ready");
            await FlushAsync();
            command = "session";
            await ReadLoopAsync(shutdown);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or AuthenticationException or OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            // The client went away, the TLS handshake failed or the server is stopping: nothing to answer.
            Pop3Log.ProtocolError(_logger, _connection.Id, "connection ended: " + ex.GetType().Name);
        }
        catch (Exception ex)
        {
            Pop3Log.InternalError(_logger, ex, _connection.Id, command);
        }
        finally
        {
            ReleaseMaildrop();
        }
    }

    private async Task ReadLoopAsync(CancellationToken shutdown)
    {
        var discarding = false;
        var partial = false;
        while (true)
        {
            var input = _connection.Input;
            ReadResult result;

            // RFC 1939 section 3: an inactivity autologout timer of at least 10 minutes between commands; a command
            // that has started must finish within the listener's command timeout (slow-loris guard).
            var timeout = partial || discarding ? Min(_limits.CommandTimeout, _options.Pop3.IdleTimeout) : _options.Pop3.IdleTimeout;
            var pending = input.ReadAsync(CancellationToken.None);
            if (pending.IsCompleted)
            {
                result = pending.Result;
            }
            else
            {
                // The socket read is never cancelled while it runs: cancelling a TLS read and then writing the final
                // reply can corrupt the TLS stream. The timer races the read instead; the reply is written while the
                // read is still pending (one read and one write at once is allowed), and only then is it cancelled.
                var readTask = pending.AsTask();
                using var timer = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
                var delay = Task.Delay(timeout, timer.Token);
                if (await Task.WhenAny(readTask, delay) != readTask)
                {
                    if (shutdown.IsCancellationRequested)
                    {
                        await TryFinalReplyAsync("-ERR [SYS/TEMP] Server shutting down");
                    }
                    else
                    {
                        // No UPDATE state on a timeout (RFC 1939 section 3): deletions are not committed.
                        Pop3Log.ProtocolError(_logger, _connection.Id, "idle timeout");
                        await TryFinalReplyAsync("-ERR Autologout: idle for too long");
                    }

                    input.CancelPendingRead();
                    try
                    {
                        var last = await readTask.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
                        input.AdvanceTo(last.Buffer.Start);
                    }
                    catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or TimeoutException or InvalidOperationException)
                    {
                        // The read ended badly; the connection is being closed anyway.
                    }

                    return;
                }

                await timer.CancelAsync();
                result = await readTask;
            }

            var buffer = result.Buffer;
            var outcome = Pop3Outcome.Continue;
            while (outcome == Pop3Outcome.Continue)
            {
                if (discarding)
                {
                    if (!LineBuffer.SkipLine(ref buffer))
                    {
                        break;
                    }

                    discarding = false;
                    continue;
                }

                var status = Pop3Parser.TryReadLine(ref buffer, _limits.MaxLineLength, out var line);
                if (status == Pop3LineStatus.NeedMore)
                {
                    break;
                }

                if (status == Pop3LineStatus.TooLong)
                {
                    discarding = true;
                    _sasl = null;
                    WriteErr("Line too long");
                    outcome = CountError("line too long");
                    continue;
                }

                outcome = await ExecuteLineAsync(line, shutdown);
            }

            if (outcome == Pop3Outcome.StartTls)
            {
                // RFC 2595 section 4: anything pipelined after STLS is discarded (NetConnection drops it too).
                input.AdvanceTo(buffer.End);
                if (!await StartTlsAsync(shutdown))
                {
                    return;
                }

                discarding = false;
                partial = false;
                continue;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            await FlushAsync();
            if (outcome == Pop3Outcome.Close)
            {
                return;
            }

            if (result.IsCompleted)
            {
                // The client left without QUIT: RFC 1939 section 6, no UPDATE state, nothing is deleted.
                return;
            }

            partial = !buffer.IsEmpty;
        }
    }

    private async ValueTask<Pop3Outcome> ExecuteLineAsync(ReadOnlySequence<byte> line, CancellationToken shutdown)
    {
        if (_sasl is not null)
        {
            TranscriptIn("<sasl response redacted>");
            return await ContinueSaslAsync(Pop3Parser.ReadSaslLine(line), shutdown);
        }

        var command = Pop3Parser.ParseCommand(line);
        TranscriptIn(command.Redacted);
        if (command.Kind == Pop3CommandKind.Unknown)
        {
            WriteErr(command.Error ?? "Unknown command");
            return CountError("unknown command " + command.Keyword);
        }

        if (!Pop3StateTable.IsAllowed(command.Kind, _state))
        {
            WriteErr(command.Keyword + " is not valid in the " + _state.ToString().ToUpperInvariant() + " state");
            return CountError(command.Keyword + " out of sequence");
        }

        if (command.Error is not null)
        {
            WriteErr(command.Error);
            return CountError(command.Keyword + ": " + command.Error);
        }

        try
        {
            return command.Kind switch
            {
                Pop3CommandKind.Capa => Capa(),
                Pop3CommandKind.Stls => Stls(),
                Pop3CommandKind.User => User(command),
                Pop3CommandKind.Pass => await PassAsync(command, shutdown),
                Pop3CommandKind.Auth => await AuthAsync(command, shutdown),
                Pop3CommandKind.Quit => await QuitAsync(shutdown),
                Pop3CommandKind.Stat => Stat(),
                Pop3CommandKind.List => List(command),
                Pop3CommandKind.Retr => await RetrAsync(command, shutdown),
                Pop3CommandKind.Dele => Dele(command),
                Pop3CommandKind.Noop => Noop(),
                Pop3CommandKind.Rset => Rset(),
                Pop3CommandKind.Top => await TopAsync(command, shutdown),
                Pop3CommandKind.Uidl => Uidl(command),
                _ => Unhandled(command),
            };
        }
        catch (Exception ex) when (ex is not (IOException or OperationCanceledException or ObjectDisposedException or TimeoutException or MessageStreamException))
        {
            // An internal error is a temporary failure for the client (house style, habit 7); the session survives.
            Pop3Log.InternalError(_logger, ex, _connection.Id, command.Keyword);
            WriteErr("[SYS/TEMP] Internal error, try again later");
            return Pop3Outcome.Continue;
        }
    }

    private Pop3Outcome Unhandled(Pop3Command command)
    {
        WriteErr("Command not implemented: " + command.Keyword);
        return CountError("unhandled " + command.Keyword);
    }

    private Pop3Outcome CountError(string reason)
    {
        _errors++;
        Pop3Log.ProtocolError(_logger, _connection.Id, reason);
        if (_errors >= _options.Pop3.MaxErrors)
        {
            WriteErr("Too many errors, closing connection");
            return Pop3Outcome.Close;
        }

        return Pop3Outcome.Continue;
    }

    private async ValueTask<bool> StartTlsAsync(CancellationToken shutdown)
    {
        try
        {
            await _connection.UpgradeToTlsAsync(_limits.HandshakeTimeout, shutdown);
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            Pop3Log.ProtocolError(_logger, _connection.Id, "STLS handshake failed: " + ex.GetType().Name);
            return false;
        }

        // RFC 2595 section 4: the client must discard what it learnt before TLS; so does the server.
        _pendingUser = null;
        _sasl = null;
        return true;
    }

    private void WriteOk(string text) => WriteLine("+OK " + text);

    private void WriteErr(string text) => WriteLine("-ERR " + text);

    private void WriteLine(string text)
    {
        TranscriptOut(text);
        Encoding.UTF8.GetBytes(text, Output);
        Output.Write("\r\n"u8);
    }

    /// <summary>Writes a line of a multi-line listing (never starts with '.': numbers and capability names).</summary>
    private void WriteRaw(string text)
    {
        Encoding.UTF8.GetBytes(text, Output);
        Output.Write("\r\n"u8);
    }

    private void WriteTerminator() => Output.Write(".\r\n"u8);

    /// <summary>
    /// Sends what was written. Never passes a cancellation token to the pipe: a write cancelled half-way through a TLS
    /// record corrupts the stream for the client, so a flush is bounded by the command timeout instead, after
    /// which the session ends (a client that does not read its replies is gone).
    /// </summary>
    private async ValueTask FlushAsync()
    {
        var pending = Output.FlushAsync(CancellationToken.None);
        var result = pending.IsCompleted ? pending.Result : await pending.AsTask().WaitAsync(_limits.CommandTimeout);
        if (result.IsCompleted)
        {
            throw new IOException("The client closed the connection.");
        }
    }

    private async ValueTask TryFinalReplyAsync(string line)
    {
        try
        {
            WriteLine(line);
            await Output.FlushAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or NotSupportedException or TimeoutException)
        {
            // The client is gone or not reading: closing is all that is left.
            Pop3Log.ProtocolError(_logger, _connection.Id, "final reply not delivered: " + ex.GetType().Name + " " + ex.Message);
        }
    }

    private void TranscriptIn(string line)
    {
        if (_transcript)
        {
            Pop3Log.Transcript(_logger, _connection.Id, "C:", line);
        }
    }

    private void TranscriptOut(string line)
    {
        if (_transcript)
        {
            Pop3Log.Transcript(_logger, _connection.Id, "S:", line);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
