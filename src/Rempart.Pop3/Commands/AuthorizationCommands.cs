using Rempart.Pop3.Protocol;
using Rempart.Store.Auth;

namespace Rempart.Pop3;

/// <summary>AUTHORIZATION state: CAPA, STLS, USER/PASS, AUTH (RFC 1939 section 7, RFC 2449, RFC 2595, RFC 5034).</summary>
internal sealed partial class Pop3Session
{
    private string? _pendingUser;
    private SaslExchange? _sasl;

    /// <summary>Plaintext credentials are only taken over TLS (RFC 2595 section 2.2 recommends it; we require it).</summary>
    private bool PlaintextAuthAllowed => _connection.IsSecure;

    private Pop3Outcome Capa()
    {
        // RFC 2449 section 5: capabilities may differ per state and after STLS.
        WriteOk("Capability list follows");
        WriteRaw("TOP");
        WriteRaw("UIDL");
        WriteRaw("RESP-CODES");
        WriteRaw("AUTH-RESP-CODE");
        WriteRaw("PIPELINING");
        if (_state == Pop3State.Authorization)
        {
            if (PlaintextAuthAllowed)
            {
                WriteRaw("USER");
                WriteRaw("SASL " + string.Join(' ', SaslExchange.Mechanisms));
            }
            else if (_connection.CanStartTls)
            {
                WriteRaw("STLS");
            }
        }

        WriteRaw("IMPLEMENTATION Rempart");
        WriteTerminator();
        return Pop3Outcome.Continue;
    }

    private Pop3Outcome Stls()
    {
        if (_connection.IsSecure)
        {
            WriteErr("TLS is already active");
            return CountError("STLS while secure");
        }

        if (!_connection.CanStartTls)
        {
            WriteErr("[SYS/PERM] TLS is not available");
            return CountError("STLS without certificate");
        }

        WriteOk("Begin TLS negotiation");
        return Pop3Outcome.StartTls;
    }

    private Pop3Outcome RefusePlaintext()
    {
        WriteErr("[SYS/PERM] Plaintext authentication is not allowed before STLS; use STLS or port " + _options.Listeners.Pop3s.Port);
        return CountError("plaintext authentication before TLS");
    }

    private Pop3Outcome User(Pop3Command command)
    {
        if (!PlaintextAuthAllowed)
        {
            return RefusePlaintext();
        }

        // RFC 1939: the server may accept any name here, so unknown users are not revealed.
        _pendingUser = command.Arguments[0];
        WriteOk("Send the password");
        return Pop3Outcome.Continue;
    }

    private async ValueTask<Pop3Outcome> PassAsync(Pop3Command command, CancellationToken shutdown)
    {
        if (!PlaintextAuthAllowed)
        {
            return RefusePlaintext();
        }

        if (_pendingUser is null)
        {
            WriteErr("Send USER first");
            return CountError("PASS without USER");
        }

        var user = _pendingUser;
        _pendingUser = null;
        return await LoginAsync(user, command.Arguments[0], shutdown);
    }

    private async ValueTask<Pop3Outcome> AuthAsync(Pop3Command command, CancellationToken shutdown)
    {
        if (command.Arguments.Count == 0)
        {
            // Bare AUTH lists the mechanisms (RFC 1734 practice clients still probe with).
            WriteOk("Mechanisms follow");
            if (PlaintextAuthAllowed)
            {
                foreach (var mechanism in SaslExchange.Mechanisms)
                {
                    WriteRaw(mechanism);
                }
            }

            WriteTerminator();
            return Pop3Outcome.Continue;
        }

        if (!PlaintextAuthAllowed)
        {
            return RefusePlaintext();
        }

        var exchange = SaslExchange.Start(command.Arguments[0]);
        if (exchange is null)
        {
            WriteErr("Unsupported authentication mechanism");
            return CountError("unsupported SASL mechanism");
        }

        _sasl = exchange;

        // RFC 5034 section 4: an optional initial response, "=" standing for an empty one.
        var step = command.Arguments.Count == 2 ? exchange.Next(command.Arguments[1]) : SaslStep.Challenge(exchange.FirstChallenge);
        return await SaslStepAsync(step, shutdown);
    }

    private async ValueTask<Pop3Outcome> ContinueSaslAsync(string? response, CancellationToken shutdown)
    {
        var exchange = _sasl!;
        var step = response is null ? SaslStep.Failed("Invalid SASL response") : exchange.Next(response);
        return await SaslStepAsync(step, shutdown);
    }

    private async ValueTask<Pop3Outcome> SaslStepAsync(SaslStep step, CancellationToken shutdown)
    {
        switch (step.Kind)
        {
            case SaslStepKind.Challenge:
                // RFC 5034 section 4: "+" SP base64 challenge.
                WriteLine("+ " + step.ChallengeBase64);
                return Pop3Outcome.Continue;
            case SaslStepKind.Done:
                _sasl = null;
                return await LoginAsync(step.Username!, step.Password!, shutdown);
            case SaslStepKind.Cancelled:
                _sasl = null;
                WriteErr("Authentication cancelled");
                return Pop3Outcome.Continue;
            default:
                _sasl = null;
                WriteErr("[AUTH] " + step.Error);
                return CountError("SASL: " + step.Error);
        }
    }

    private async ValueTask<Pop3Outcome> LoginAsync(string user, string password, CancellationToken shutdown)
    {
        AuthResult result;
        try
        {
            result = await _auth.AuthenticateAsync(user, password, _connection.RemoteEndPoint.Address, "pop3", shutdown);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or IOException))
        {
            Pop3Log.InternalError(_logger, ex, _connection.Id, "authentication");
            WriteErr("[SYS/TEMP] Authentication is unavailable, try again later");
            return Pop3Outcome.Continue;
        }

        switch (result.Outcome)
        {
            case AuthOutcome.Success when result.Account is not null:
                break;
            case AuthOutcome.Throttled:
                // RFC 3206 [AUTH]: retrying automatically with the same credentials would only extend the ban.
                WriteErr("[AUTH] Too many failed logins, try again later");
                return CountError("authentication throttled");
            default:
                WriteErr("[AUTH] Authentication failed");
                return CountError("authentication failed");
        }

        var account = result.Account;

        // RFC 1939 section 8 / RFC 2449 [IN-USE]: one session per maildrop.
        var held = _locks.TryAcquire(account.Id);
        if (held is null)
        {
            WriteErr("[IN-USE] The maildrop is in use by another session");
            return CountError("maildrop locked");
        }

        try
        {
            if (!await OpenMaildropAsync(account.Id, shutdown))
            {
                held.Dispose();
                WriteErr("[SYS/PERM] The account has no INBOX");
                return Pop3Outcome.Continue;
            }
        }
        catch
        {
            held.Dispose();
            throw;
        }

        _lockHolder = held;
        _accountId = account.Id;
        _state = Pop3State.Transaction;
        Pop3Log.MaildropOpened(_logger, _connection.Id, account.Id, _messages.Length);
        WriteOk(MaildropSummary("Logged in"));
        return Pop3Outcome.Continue;
    }
}
