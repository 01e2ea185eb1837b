using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Imap.Protocol;
using Rempart.Net;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Telemetry;

namespace Rempart.Imap;

/// <summary>RFC 9051 section 3 connection states.</summary>
[Flags]
public enum ImapState
{
    None = 0,
    NotAuthenticated = 1,
    Authenticated = 2,
    Selected = 4,
    Logout = 8,
    Any = NotAuthenticated | Authenticated | Selected,
    Auth = Authenticated | Selected,
}

/// <summary>
/// One IMAP connection. The command table below is the state table: which commands each state accepts and whether
/// a command addresses messages by sequence number (then no EXPUNGE may be sent while it runs, RFC 9051 section 7.5.1).
/// Command handlers live in Commands/, one file per family, as parts of this class.
/// </summary>
public sealed partial class ImapSession : IAsyncDisposable
{
    private delegate Task CommandHandler(ImapSession session, ImapCommand command, CancellationToken ct);

    private sealed record CommandSpec(ImapState States, bool UsesSequenceNumbers, CommandHandler Handler);

    private static readonly Dictionary<string, CommandSpec> s_commands = new(StringComparer.Ordinal)
    {
        ["CAPABILITY"] = new(ImapState.Any, false, (s, c, ct) => s.CapabilityAsync(c, ct)),
        ["NOOP"] = new(ImapState.Any, false, (s, c, ct) => s.NoopAsync(c, ct)),
        ["LOGOUT"] = new(ImapState.Any, false, (s, c, ct) => s.LogoutAsync(c, ct)),
        ["ID"] = new(ImapState.Any, false, (s, c, ct) => s.IdAsync(c, ct)),
        ["STARTTLS"] = new(ImapState.NotAuthenticated, false, (s, c, ct) => s.StartTlsAsync(c, ct)),
        ["LOGIN"] = new(ImapState.NotAuthenticated, false, (s, c, ct) => s.LoginAsync(c, ct)),
        ["AUTHENTICATE"] = new(ImapState.NotAuthenticated, false, (s, c, ct) => s.AuthenticateAsync(c, ct)),
        ["ENABLE"] = new(ImapState.Authenticated, false, (s, c, ct) => s.EnableAsync(c, ct)),
        ["NAMESPACE"] = new(ImapState.Auth, false, (s, c, ct) => s.NamespaceAsync(c, ct)),
        ["SELECT"] = new(ImapState.Auth, false, (s, c, ct) => s.SelectAsync(c, readOnly: false, ct)),
        ["EXAMINE"] = new(ImapState.Auth, false, (s, c, ct) => s.SelectAsync(c, readOnly: true, ct)),
        ["CREATE"] = new(ImapState.Auth, false, (s, c, ct) => s.CreateAsync(c, ct)),
        ["DELETE"] = new(ImapState.Auth, false, (s, c, ct) => s.DeleteAsync(c, ct)),
        ["RENAME"] = new(ImapState.Auth, false, (s, c, ct) => s.RenameAsync(c, ct)),
        ["SUBSCRIBE"] = new(ImapState.Auth, false, (s, c, ct) => s.SubscribeAsync(c, subscribe: true, ct)),
        ["UNSUBSCRIBE"] = new(ImapState.Auth, false, (s, c, ct) => s.SubscribeAsync(c, subscribe: false, ct)),
        ["LIST"] = new(ImapState.Auth, false, (s, c, ct) => s.ListAsync(c, lsub: false, ct)),
        ["LSUB"] = new(ImapState.Auth, false, (s, c, ct) => s.ListAsync(c, lsub: true, ct)),
        ["STATUS"] = new(ImapState.Auth, false, (s, c, ct) => s.StatusAsync(c, ct)),
        ["APPEND"] = new(ImapState.Auth, false, (s, c, ct) => s.AppendAsync(c, ct)),
        ["IDLE"] = new(ImapState.Auth, false, (s, c, ct) => s.IdleAsync(c, ct)),
        ["COMPRESS"] = new(ImapState.Auth, false, (s, c, ct) => s.CompressAsync(c, ct)),
        ["GETQUOTA"] = new(ImapState.Auth, false, (s, c, ct) => s.GetQuotaAsync(c, ct)),
        ["GETQUOTAROOT"] = new(ImapState.Auth, false, (s, c, ct) => s.GetQuotaRootAsync(c, ct)),
        ["CHECK"] = new(ImapState.Selected, false, (s, c, ct) => s.CheckAsync(c, ct)),
        ["CLOSE"] = new(ImapState.Selected, false, (s, c, ct) => s.CloseAsync(c, expunge: true, ct)),
        ["UNSELECT"] = new(ImapState.Selected, false, (s, c, ct) => s.CloseAsync(c, expunge: false, ct)),
        ["EXPUNGE"] = new(ImapState.Selected, false, (s, c, ct) => s.ExpungeAsync(c, uid: false, ct)),
        ["UID EXPUNGE"] = new(ImapState.Selected, false, (s, c, ct) => s.ExpungeAsync(c, uid: true, ct)),
        ["SEARCH"] = new(ImapState.Selected, true, (s, c, ct) => s.SearchAsync(c, uid: false, ct)),
        ["UID SEARCH"] = new(ImapState.Selected, false, (s, c, ct) => s.SearchAsync(c, uid: true, ct)),
        ["FETCH"] = new(ImapState.Selected, true, (s, c, ct) => s.FetchAsync(c, uid: false, ct)),
        ["UID FETCH"] = new(ImapState.Selected, false, (s, c, ct) => s.FetchAsync(c, uid: true, ct)),
        ["STORE"] = new(ImapState.Selected, true, (s, c, ct) => s.StoreAsync(c, uid: false, ct)),
        ["UID STORE"] = new(ImapState.Selected, false, (s, c, ct) => s.StoreAsync(c, uid: true, ct)),
        ["COPY"] = new(ImapState.Selected, true, (s, c, ct) => s.CopyAsync(c, uid: false, move: false, ct)),
        ["UID COPY"] = new(ImapState.Selected, false, (s, c, ct) => s.CopyAsync(c, uid: true, move: false, ct)),
        ["MOVE"] = new(ImapState.Selected, true, (s, c, ct) => s.CopyAsync(c, uid: false, move: true, ct)),
        ["UID MOVE"] = new(ImapState.Selected, false, (s, c, ct) => s.CopyAsync(c, uid: true, move: true, ct)),
        ["SORT"] = new(ImapState.Selected, true, (s, c, ct) => s.SortAsync(c, uid: false, ct)),
        ["UID SORT"] = new(ImapState.Selected, false, (s, c, ct) => s.SortAsync(c, uid: true, ct)),
        ["THREAD"] = new(ImapState.Selected, true, (s, c, ct) => s.ThreadAsync(c, uid: false, ct)),
        ["UID THREAD"] = new(ImapState.Selected, false, (s, c, ct) => s.ThreadAsync(c, uid: true, ct)),
    };

    /// <summary>Every command the server knows (for the meta-test that each has a state test).</summary>
    public static IReadOnlyCollection<string> CommandNames => s_commands.Keys;

    /// <summary>States a command is accepted in.</summary>
    public static ImapState StatesOf(string command) => s_commands.TryGetValue(command, out var spec) ? spec.States : ImapState.None;

    private readonly NetConnection _connection;
    private readonly IMailStore _store;
    private readonly IAuthService _auth;
    private readonly RempartOptions _options;
    private readonly ILogger _logger;
    private readonly ImapResponseWriter _writer;
    private readonly ImapCommandParser _parser;
    private PipeReader _input;
    private ImapState _state = ImapState.NotAuthenticated;
    private AccountRecord? _account;
    private bool _sessionCounted;
    private ImapCommand? _current;

    public ImapSession(NetConnection connection, IMailStore store, IAuthService auth, RempartOptions options, ILogger logger, bool implicitTls)
    {
        _connection = connection;
        _store = store;
        _auth = auth;
        _options = options;
        _logger = logger;
        _ = implicitTls;
        _input = connection.Input;
        _writer = new ImapResponseWriter(connection.Output);
        var limits = options.Listeners.Imap.Limits;
        _parser = new ImapCommandParser(new ImapParserLimits(limits.MaxLineLength, options.Imap.MaxLiteralSize, options.Imap.MaxNestingDepth, null));
    }

    private TimeSpan IdleTimeout => _state == ImapState.NotAuthenticated ? _options.Imap.PreAuthTimeout : _options.Imap.AuthenticatedTimeout;

    public async Task RunAsync(CancellationToken shutdown)
    {
        ImapLog.SessionStarted(_logger, _connection.Id, _connection.RemoteEndPoint.ToString(), _connection.IsSecure);
        try
        {
            if (_auth.IsBanned(_connection.RemoteEndPoint.Address))
            {
                _writer.Untagged("BYE Too many failed logins from your address; try later");
                await _writer.FlushAsync(shutdown);
                return;
            }

            _writer.Untagged("OK [CAPABILITY " + Capabilities() + "] Rempart IMAP ready");
            await _writer.FlushAsync(shutdown);
            while (_state != ImapState.Logout)
            {
                var command = await ReadCommandAsync(shutdown);
                if (command is null)
                {
                    break;
                }

                await DispatchAsync(command, shutdown);
                await _writer.FlushAsync(shutdown);
            }
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            await TryByeAsync("Server shutting down");
        }
        catch (IdleTimeoutException)
        {
            await TryByeAsync("Autologout; idle for too long");
        }
        catch (ProtocolViolationException ex)
        {
            ImapLog.ProtocolError(_logger, _connection.Id, ex.Message);
            await TryByeAsync(ex.Message);
        }
        catch (IOException)
        {
            // The client went away.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The one top-level catch: an internal error ends this session only, with a log entry.
            ImapLog.InternalError(_logger, _connection.Id, ex);
            await TryByeAsync("Internal server error");
        }
        finally
        {
            Deselect();

            if (_sessionCounted && _account is not null)
            {
                ImapConnectionHandler.SessionsPerUser(_store).AddOrUpdate(_account.Id, 0, (_, n) => Math.Max(0, n - 1));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Deselect();
        try
        {
            await DisposeCompressionAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone; the compressed tail cannot be delivered.
        }
    }

    private async Task TryByeAsync(string text)
    {
        try
        {
            _writer.Untagged("BYE " + text);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _writer.FlushAsync(cts.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // Best effort: the peer may already be gone.
        }
    }

    private async Task DispatchAsync(ImapCommand command, CancellationToken ct)
    {
        if (!s_commands.TryGetValue(command.Name, out var spec))
        {
            _writer.Tagged(command.Tag, "BAD", "Unknown command");
            return;
        }

        if ((spec.States & _state) == 0)
        {
            var reason = _state == ImapState.NotAuthenticated ? "Log in first" : _state == ImapState.Authenticated && spec.States == ImapState.Selected ? "No mailbox selected" : "Command not valid in this state";
            _writer.Tagged(command.Tag, "BAD", reason);
            return;
        }

        var started = Stopwatch.GetTimestamp();
        _current = command;
        _completion = null;
        try
        {
            if (_state == ImapState.Selected && command.Name != "IDLE")
            {
                // New messages and flag changes go out first, so "UID FETCH n:*" sees what another session appended.
                await SyncAsync(allowExpunge: !spec.UsesSequenceNumbers, ct);
            }

            await spec.Handler(this, command, ct);
            if (_completion is { } done)
            {
                if (_state == ImapState.Selected && _dirty != 0)
                {
                    // RFC 9051 section 7.5.1: report changes committed while the command ran (this session's own
                    // APPEND, other sessions' writes: the change bus marked the view dirty) before completing, but no
                    // EXPUNGE while a command that addresses messages by sequence number is answered. Without such a
                    // change the sync before the command was enough; the next command's sync catches other processes.
                    await SyncAsync(allowExpunge: !spec.UsesSequenceNumbers, ct);
                }

                _writer.Tagged(command.Tag, done.Status, done.Text);
            }
        }
        catch (CommandSyntaxException ex)
        {
            _writer.Tagged(command.Tag, "BAD", ex.Message);
        }
        catch (QuotaExceededException)
        {
            _writer.Tagged(command.Tag, "NO", "[OVERQUOTA] Quota exceeded");
        }
        catch (StoreException ex)
        {
            _writer.Tagged(command.Tag, "NO", ex.Message);
        }
        finally
        {
            _completion = null;
            _current = null;
            RempartMetrics.CommandDuration.WithLabels("imap", command.Name).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>
    /// Reads the next command. Synchronising literals get "+ Ready" only once their announced size is accepted;
    /// syntax errors are answered here and reading carries on; protocol violations throw.
    /// </summary>
    private async Task<ImapCommand?> ReadCommandAsync(CancellationToken shutdown)
    {
        var acknowledged = 0;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        idle.CancelAfter(IdleTimeout);
        var startedCommand = false;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await _input.ReadAsync(idle.Token);
            }
            catch (OperationCanceledException) when (!shutdown.IsCancellationRequested)
            {
                throw new IdleTimeoutException();
            }

            var buffer = read.Buffer;
            if (!startedCommand && !buffer.IsEmpty)
            {
                // Once a command starts, the slow-loris guard takes over from the idle timeout.
                startedCommand = true;
                idle.CancelAfter(_options.Listeners.Imap.Limits.CommandTimeout > IdleTimeout ? IdleTimeout : _options.Listeners.Imap.Limits.CommandTimeout);
            }

            var result = buffer.IsEmpty ? new ImapParseResult(ImapParseStatus.NeedMoreData, null, buffer.Start, null, null, 0) : _parser.Parse(buffer, acknowledged);
            switch (result.Status)
            {
                case ImapParseStatus.Complete:
                    _input.AdvanceTo(result.Consumed);
                    LogCommand(result.Command!);
                    return result.Command;
                case ImapParseStatus.NeedMoreData:
                    if (read.IsCompleted)
                    {
                        _input.AdvanceTo(buffer.End);
                        return null;
                    }

                    _input.AdvanceTo(buffer.Start, buffer.End);
                    break;
                case ImapParseStatus.NeedContinuation:
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    acknowledged++;
                    _writer.Continuation("Ready");
                    await _writer.FlushAsync(shutdown);
                    if (read.IsCompleted)
                    {
                        return null;
                    }

                    break;
                case ImapParseStatus.CommandError:
                case ImapParseStatus.LiteralTooLarge:
                    _input.AdvanceTo(result.Consumed);
                    acknowledged = 0;
                    var status = result.Status == ImapParseStatus.LiteralTooLarge ? "NO" : "BAD";
                    if (result.Tag is null)
                    {
                        _writer.Untagged("BAD " + result.Error);
                    }
                    else
                    {
                        _writer.Tagged(result.Tag, status, result.Error ?? "Syntax error");
                    }

                    await _writer.FlushAsync(shutdown);
                    startedCommand = false;
                    idle.CancelAfter(IdleTimeout);
                    break;
                default:
                    _input.AdvanceTo(buffer.End);
                    if (result.Tag is not null)
                    {
                        // The command gets its BAD, then the connection its BYE: what follows cannot be framed.
                        _writer.Tagged(result.Tag, "BAD", result.Error ?? "Protocol error");
                    }

                    throw new ProtocolViolationException(result.Error ?? "Protocol error");
            }
        }
    }

    /// <summary>Reads one line outside command syntax (AUTHENTICATE responses, IDLE's DONE).</summary>
    private async Task<string?> ReadLineAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        while (true)
        {
            ReadResult read;
            try
            {
                read = await _input.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IdleTimeoutException();
            }

            var buffer = read.Buffer;
            if (_parser.TryReadLine(buffer, out var line, out var consumed, out var tooLong))
            {
                _input.AdvanceTo(consumed);
                return line;
            }

            if (tooLong)
            {
                throw new ProtocolViolationException("Line too long");
            }

            if (read.IsCompleted)
            {
                _input.AdvanceTo(buffer.End);
                return null;
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private void LogCommand(ImapCommand command)
    {
        if (!_options.Logging.Protocol || !_logger.IsEnabled(LogLevel.Trace))
        {
            return;
        }

        // Secrets never reach the log (house style, habit 8).
        var text = command.Name switch
        {
            "LOGIN" => command.Tag + " LOGIN " + (command.Args.Count > 0 ? command.Args[0].ToString() : string.Empty) + " ***",
            "AUTHENTICATE" => command.Tag + " AUTHENTICATE " + (command.Args.Count > 0 ? command.Args[0].ToString() : string.Empty) + (command.Args.Count > 1 ? " ***" : string.Empty),
            _ => command.Tag + " " + command.Name + " " + string.Join(' ', command.Args),
        };
        ImapLog.ClientLine(_logger, _connection.Id, text.Length > 500 ? text[..500] + "..." : text);
    }

    private sealed class IdleTimeoutException : Exception;

    private sealed class ProtocolViolationException(string message) : Exception(message);
}

/// <summary>Bad arguments: the command gets BAD, the session carries on.</summary>
public sealed class CommandSyntaxException(string message) : Exception(message);
