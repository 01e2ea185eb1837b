using Rempart.Smtp.Protocol;
using Rempart.Store.Auth;

namespace Rempart.Smtp.Inbound;

internal sealed partial class SmtpSession
{
    // Challenge/response rounds allowed in one AUTH exchange (LOGIN needs two).
    private const int MaxSaslRounds = 4;

    /// <summary>RFC 3207 STARTTLS.</summary>
    private async Task StartTlsAsync(string argument)
    {
        if (_connection.IsSecure)
        {
            Error(SmtpReply.TlsAlreadyActive);
            return;
        }

        if (!_connection.CanStartTls)
        {
            Error(SmtpReply.TlsNotAvailable);
            return;
        }

        if (argument.Length != 0)
        {
            Error(SmtpReply.ParameterSyntax);
            return;
        }

        Reply(SmtpReply.ReadyToStartTls);
        await FlushAsync();

        // The upgrade drops every byte buffered before the handshake (RFC 3207 section 4.2: no plaintext
        // command may be carried into the TLS session).
        await _connection.UpgradeToTlsAsync(_s.Limits.HandshakeTimeout, _shutdown);
        _input = _connection.Input;
        _output = _connection.Output;

        // RFC 3207 section 4.2: forget everything learnt from the client before TLS.
        _tx = null;
        _helo = null;
        _esmtp = false;
        _account = null;
        _state = SmtpState.Connected;
        _partialLineSince = -1;
        _skippingLongLine = false;
        _filterContext.IsSecure = true;
        _filterContext.HeloName = null;
        _filterContext.AuthenticatedUser = null;
        _filterContext.Sender = null;
        _filterContext.Recipients = [];
    }

    /// <summary>RFC 4954 AUTH with the mechanisms of <see cref="SaslExchange"/>.</summary>
    private async Task AuthAsync(string argument)
    {
        if (!_s.IsSubmission)
        {
            Error(SmtpReply.AuthNotAvailable);
            return;
        }

        if (!_connection.IsSecure)
        {
            // RFC 4954 section 4 and RFC 8314: credentials never cross in clear text.
            Error(SmtpReply.EncryptionRequiredForAuth);
            return;
        }

        if (_account is not null)
        {
            Error(SmtpReply.AlreadyAuthenticated);
            return;
        }

        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2)
        {
            Error(SmtpReply.ParameterSyntax);
            return;
        }

        var sasl = SaslExchange.Start(parts[0]);
        if (sasl is null)
        {
            Error(SmtpReply.UnknownMechanism);
            return;
        }

        var remote = _connection.RemoteEndPoint.Address;
        if (_s.Auth.IsBanned(remote))
        {
            Reply(new SmtpReply(421, "4.7.0", "Too many authentication failures, closing connection"));
            return;
        }

        var step = parts.Length == 2 ? sasl.Next(parts[1]) : SaslStep.Challenge(sasl.FirstChallenge);
        for (var round = 0; step.Kind == SaslStepKind.Challenge; round++)
        {
            if (round >= MaxSaslRounds)
            {
                Error(SmtpReply.AuthCancelled);
                return;
            }

            // RFC 4954 section 4: "334 " followed by the base64 challenge, no enhanced code.
            Reply(new SmtpReply(334, string.Empty, step.ChallengeBase64 ?? string.Empty));
            var (status, line) = await ReadLineAsync();
            if (status == ReadStatus.Closed)
            {
                _closing = true;
                return;
            }

            _transcript.ClientSecret();
            if (status != ReadStatus.Line)
            {
                Error(SmtpReply.AuthCancelled);
                return;
            }

            step = sasl.Next(LineText(line!));
        }

        switch (step.Kind)
        {
            case SaslStepKind.Cancelled:
                Error(SmtpReply.AuthCancelled);
                return;
            case SaslStepKind.Failed:
                Error(new SmtpReply(501, "5.5.2", step.Error ?? "Malformed authentication response"));
                return;
        }

        var result = await _s.Auth.AuthenticateAsync(step.Username!, step.Password!, remote, "smtp", _shutdown);
        switch (result.Outcome)
        {
            case AuthOutcome.Success:
                _account = result.Account;
                _filterContext.AuthenticatedUser = result.Account!.Address;
                Reply(SmtpReply.AuthSucceeded);
                break;
            case AuthOutcome.Throttled:
                // AuthService counts attempts and bans; the session only answers.
                Error(SmtpReply.AuthThrottled);
                break;
            default:
                // Disabled accounts get the same answer as bad passwords: never say which.
                Error(SmtpReply.AuthFailed);
                break;
        }
    }
}
