using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Security.Authentication;
using System.Text;
using Rempart.Net;
using Rempart.Smtp.Filters;
using Rempart.Smtp.Protocol;
using Rempart.Store;
using Rempart.Common.Text;

namespace Rempart.Smtp.Inbound;

/// <summary>
/// One inbound SMTP session. This file holds the read loop, reply writing and timeouts; commands live in the other
/// partial files (Envelope, Data, Auth). Failures follow house style habit 7: command errors get a reply and the
/// session goes on; protocol errors (421) close it; internal errors answer 4xx and are logged.
/// </summary>
internal sealed partial class SmtpSession : IDisposable
{
    // Long lines in a row tolerated before the session is closed.
    private const int MaxLongLines = 3;

    // Replies buffered for a pipelined batch before they are written out regardless.
    private const int MaxUnflushedReplyBytes = 32 * 1024;

    private readonly SmtpSessionServices _s;
    private readonly NetConnection _connection;
    private readonly SmtpTranscript _transcript;
    private readonly FilterContext _filterContext;
    private readonly CancellationTokenSource _timeout;
    private PipeReader _input;
    private PipeWriter _output;
    private bool _pendingOutput;
    private bool _skippingLongLine;
    private bool _closing;
    private int _errors;
    private int _longLines;
    private long _partialLineSince = -1;
    private CancellationToken _shutdown;

    private SmtpState _state = SmtpState.Connected;
    private string? _helo;
    private bool _esmtp;
    private AccountRecord? _account;
    private Transaction? _tx;
    private int _transactions;

    public SmtpSession(SmtpSessionServices services, NetConnection connection)
    {
        _s = services;
        _connection = connection;
        _input = connection.Input;
        _output = connection.Output;
        _transcript = new SmtpTranscript(services.Logger, connection.Id, services.Options.Logging.Protocol);
        _filterContext = new FilterContext
        {
            ConnectionId = connection.Id,
            RemoteAddress = connection.RemoteEndPoint.Address,
            Role = services.Role.ToString().ToLowerInvariant(),
            IsSecure = connection.IsSecure,
        };
        _timeout = new CancellationTokenSource();
    }

    private string HostName => _s.Options.HostName;

    public async Task RunAsync(CancellationToken shutdown)
    {
        _shutdown = shutdown;
        SmtpLog.SessionStarted(_s.Logger, _connection.Id, _s.Role, _connection.RemoteEndPoint.ToString());
        using var registration = shutdown.Register(static t => ((CancellationTokenSource)t!).Cancel(), _timeout);
        try
        {
            if (await GreetAsync())
            {
                await CommandLoopAsync();
            }
        }
        catch (OperationCanceledException) when (_timeout.IsCancellationRequested)
        {
            await TryFinalReplyAsync(shutdown.IsCancellationRequested ? SmtpReply.ShuttingDown : SmtpReply.Timeout);
            SmtpLog.SessionClosed(_s.Logger, _connection.Id, shutdown.IsCancellationRequested ? "shutdown" : "timeout");
        }
        catch (OperationCanceledException)
        {
            // A TLS handshake that ran out of time (its own timeout inside NetConnection).
            SmtpLog.SessionClosed(_s.Logger, _connection.Id, "operation timed out");
        }
        catch (IOException ex)
        {
            SmtpLog.SessionClosed(_s.Logger, _connection.Id, ex.Message);
        }
        catch (AuthenticationException ex)
        {
            SmtpLog.SessionClosed(_s.Logger, _connection.Id, "TLS handshake failed: " + ex.Message);
        }
        catch (ObjectDisposedException)
        {
            SmtpLog.SessionClosed(_s.Logger, _connection.Id, "connection disposed");
        }
    }

    public void Dispose() => _timeout.Dispose();

    private async Task<bool> GreetAsync()
    {
        var verdict = await _s.Filter.OnConnectAsync(_filterContext.Snapshot(), _shutdown);
        if (verdict.Action == FilterAction.Reject)
        {
            // RFC 5321 section 3.1: a 554 greeting; we close right away rather than wait for QUIT.
            Reply(new SmtpReply(554, verdict.Enhanced, verdict.Text));
            await FlushAsync();
            return false;
        }

        if (verdict.Action == FilterAction.TempFail)
        {
            Reply(new SmtpReply(421, "4.7.0", verdict.Text));
            await FlushAsync();
            return false;
        }

        if (_s.IsSubmission && _s.Auth.IsBanned(_connection.RemoteEndPoint.Address))
        {
            Reply(new SmtpReply(421, "4.7.0", "Too many authentication failures from your address, try later"));
            await FlushAsync();
            return false;
        }

        // RFC 2034 section 3: the greeting carries no enhanced status code.
        Reply(new SmtpReply(220, string.Empty, HostName + " ESMTP Rempart ready"));
        return true;
    }

    private async Task CommandLoopAsync()
    {
        while (!_closing)
        {
            // A client may pipeline without ever reading: do not let unread replies pile up in memory.
            if (_output.UnflushedBytes > MaxUnflushedReplyBytes)
            {
                await FlushAsync();
            }

            var (status, line) = await ReadLineAsync();
            switch (status)
            {
                case ReadStatus.Closed:
                    SmtpLog.SessionClosed(_s.Logger, _connection.Id, "client closed the connection");
                    return;
                case ReadStatus.TooLong:
                    _transcript.Client("<line too long>");
                    if (++_longLines >= MaxLongLines)
                    {
                        Reply(new SmtpReply(421, "4.7.0", "Too many long lines, closing connection"));
                        break;
                    }

                    Error(SmtpReply.LineTooLong);
                    continue;
                case ReadStatus.BareLineEnding:
                    _transcript.Client("<line with bare CR or LF>");
                    Error(SmtpReply.BareLineEndingInCommand);
                    continue;
            }

            if (_closing)
            {
                break;
            }

            _longLines = 0;
            var command = SmtpCommandParser.Parse(line!);
            if (command is null)
            {
                _transcript.Client("<invalid UTF-8>");
                Error(SmtpReply.SyntaxError);
                continue;
            }

            _transcript.Client(command.Argument.Length == 0 ? command.VerbText : command.VerbText + " " + command.Argument);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await ExecuteAsync(command);
            Telemetry.RempartMetrics.CommandDuration.WithLabels("smtp", command.Verb.ToString().ToUpperInvariant())
                .Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        }

        await FlushAsync();
    }

    private async Task ExecuteAsync(SmtpCommand command)
    {
        // BDAT must consume its chunk before any refusal, or the chunk would be read as commands (RFC 3030 section 2).
        if (command.Verb == SmtpVerb.Bdat)
        {
            await BdatAsync(command.Argument);
            return;
        }

        if (command.Verb == SmtpVerb.Unknown)
        {
            Error(SmtpReply.SyntaxError);
            return;
        }

        if (SmtpStateTable.Check(command.Verb, _state) is { } refusal)
        {
            Error(refusal);
            return;
        }

        switch (command.Verb)
        {
            case SmtpVerb.Ehlo:
            case SmtpVerb.Helo:
                Helo(command);
                break;
            case SmtpVerb.Mail:
                await MailAsync(command.Argument);
                break;
            case SmtpVerb.Rcpt:
                await RcptAsync(command.Argument);
                break;
            case SmtpVerb.Data:
                await DataAsync(command.Argument);
                break;
            case SmtpVerb.Rset:
                if (command.Argument.Length != 0)
                {
                    Error(SmtpReply.ParameterSyntax);
                    break;
                }

                ResetTransaction();
                Reply(SmtpReply.ResetOk);
                break;
            case SmtpVerb.Noop:
                Reply(SmtpReply.Ok);
                break;
            case SmtpVerb.Quit:
                Reply(SmtpReply.Bye);
                _closing = true;
                break;
            case SmtpVerb.Help:
                Reply(new SmtpReply(214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN STARTTLS AUTH"));
                break;
            case SmtpVerb.Vrfy:
                // RFC 5321 section 3.5.3: 252 without disclosing whether the account exists.
                if (command.Argument.Length == 0)
                {
                    Error(SmtpReply.ParameterSyntax);
                }
                else
                {
                    Reply(SmtpReply.CannotVerify);
                }

                break;
            case SmtpVerb.Expn:
                Error(SmtpReply.ExpnDisabled);
                break;
            case SmtpVerb.StartTls:
                await StartTlsAsync(command.Argument);
                break;
            case SmtpVerb.Auth:
                await AuthAsync(command.Argument);
                break;
            default:
                Error(SmtpReply.NotImplemented);
                break;
        }
    }

    private void Helo(SmtpCommand command)
    {
        var domain = command.Argument;
        if (domain.Length == 0 || domain.Contains(' ', StringComparison.Ordinal))
        {
            Error(SmtpReply.ParameterSyntax);
            return;
        }

        ResetTransaction();
        _helo = domain;
        _filterContext.HeloName = domain;
        _state = SmtpState.Ready;
        _esmtp = command.Verb == SmtpVerb.Ehlo;
        var greeting = string.Create(CultureInfo.InvariantCulture, $"{HostName} Hello {domain} [{_connection.RemoteEndPoint.Address}]");
        if (!_esmtp)
        {
            Reply(new SmtpReply(250, string.Empty, greeting));
            return;
        }

        // RFC 2034 section 3: no enhanced codes on the EHLO reply.
        var lines = new List<string>
        {
            greeting,
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            string.Create(CultureInfo.InvariantCulture, $"SIZE {_s.Options.Smtp.MaxMessageSize}"),
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "BINARYMIME",
            "DSN",
        };
        if (_connection.CanStartTls)
        {
            lines.Add("STARTTLS");
        }

        if (_s.IsSubmission && _connection.IsSecure)
        {
            // RFC 4954 section 4 / RFC 8314: no AUTH offered in clear text.
            if (_account is null)
            {
                lines.Add("AUTH " + string.Join(' ', Store.Auth.SaslExchange.Mechanisms));
            }

            lines.Add("REQUIRETLS");
        }

        lines.Add("HELP");
        SmtpReplyWriter.WriteMultiline(_output, 250, string.Empty, lines);
        foreach (var l in lines)
        {
            _transcript.Server("250 " + l);
        }

        _pendingOutput = true;
    }

    private void ResetTransaction()
    {
        _tx = null;
        _filterContext.Sender = null;
        _filterContext.Recipients = [];
        if (_state != SmtpState.Connected)
        {
            _state = SmtpState.Ready;
        }
    }

    /// <summary>Queues a reply (flushed before the next read that would wait: PIPELINING, RFC 2920).</summary>
    private void Reply(SmtpReply reply)
    {
        SmtpReplyWriter.Write(_output, reply);
        _pendingOutput = true;
        _transcript.Server(reply.ToString());
        if (reply.Closes)
        {
            _closing = true;
        }
    }

    /// <summary>An error reply that counts toward SmtpOptions.MaxErrors.</summary>
    private void Error(SmtpReply reply)
    {
        Reply(reply);
        if (!_closing && ++_errors >= _s.Options.Smtp.MaxErrors)
        {
            Reply(SmtpReply.TooManyErrors);
        }
    }

    private async ValueTask FlushAsync()
    {
        if (_pendingOutput)
        {
            _pendingOutput = false;
            await _output.FlushAsync(_timeout.Token);
        }
    }

    private async Task TryFinalReplyAsync(SmtpReply reply)
    {
        try
        {
            SmtpReplyWriter.Write(_output, reply);
            _transcript.Server(reply.ToString());
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _output.FlushAsync(cts.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client is gone or stuck; nothing more to tell it.
        }
    }

    private enum ReadStatus
    {
        Line,
        TooLong,
        BareLineEnding,
        Closed,
    }

    /// <summary>
    /// Reads the next command line. Output is flushed only when no complete line is buffered, so all replies to a
    /// pipelined batch leave in one write (RFC 2920 section 3.2).
    /// </summary>
    private async ValueTask<(ReadStatus Status, byte[]? Line)> ReadLineAsync()
    {
        var maxLine = _s.Limits.MaxLineLength;
        while (true)
        {
            var result = await ReadAsync(commandInProgress: _partialLineSince >= 0 || _skippingLongLine);
            var buffer = result.Buffer;
            if (_skippingLongLine)
            {
                if (LineBuffer.SkipLine(ref buffer))
                {
                    _skippingLongLine = false;
                    _partialLineSince = -1;
                    _input.AdvanceTo(buffer.Start);
                    return (ReadStatus.TooLong, null);
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return (ReadStatus.Closed, null);
                }

                continue;
            }

            var status = SmtpLineReader.TryReadLine(ref buffer, maxLine, out var line);
            switch (status)
            {
                case LineStatus.Line:
                    var bytes = line.ToArray();
                    _input.AdvanceTo(buffer.Start);
                    _partialLineSince = -1;
                    return (ReadStatus.Line, bytes);
                case LineStatus.TooLong:
                    _input.AdvanceTo(buffer.Start);
                    _partialLineSince = -1;
                    return (ReadStatus.TooLong, null);
                case LineStatus.TooLongUnterminated:
                    _input.AdvanceTo(buffer.Start);
                    _skippingLongLine = true;
                    continue;
                case LineStatus.BareLineEnding:
                    _input.AdvanceTo(buffer.Start);
                    _partialLineSince = -1;
                    return (ReadStatus.BareLineEnding, null);
                default:
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return (ReadStatus.Closed, null);
                    }

                    if (buffer.Length > 0 && _partialLineSince < 0)
                    {
                        _partialLineSince = Environment.TickCount64;
                    }

                    continue;
            }
        }
    }

    /// <summary>
    /// Returns buffered input at once when there is some not yet examined; otherwise flushes pending replies and
    /// waits, bounded by the idle timeout (between commands) or the command timeout (inside a command or DATA).
    /// </summary>
    private async ValueTask<ReadResult> ReadAsync(bool commandInProgress)
    {
        if (_input.TryRead(out var ready))
        {
            return ready;
        }

        await FlushAsync();
        var limit = commandInProgress ? _s.Limits.CommandTimeout : _s.Limits.IdleTimeout;
        if (commandInProgress && _partialLineSince >= 0)
        {
            // Slow-loris guard: the whole command line must arrive within CommandTimeout.
            var elapsed = TimeSpan.FromMilliseconds(Environment.TickCount64 - _partialLineSince);
            limit = limit > elapsed ? limit - elapsed : TimeSpan.Zero;
            if (limit == TimeSpan.Zero)
            {
                await _timeout.CancelAsync();
            }
        }

        _timeout.CancelAfter(limit);
        var result = await _input.ReadAsync(_timeout.Token);
        if (!_timeout.TryReset())
        {
            _timeout.Token.ThrowIfCancellationRequested();
        }

        if (result.IsCanceled)
        {
            throw new OperationCanceledException(_timeout.Token);
        }

        return result;
    }

    /// <summary>Decodes a line for AUTH continuations (ASCII base64).</summary>
    private static string LineText(byte[] line) => Encoding.ASCII.GetString(line);
}
