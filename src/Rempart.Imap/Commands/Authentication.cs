using Rempart.Imap.Protocol;
using Rempart.Store;
using Rempart.Store.Auth;

namespace Rempart.Imap;

/// <summary>STARTTLS, LOGIN, AUTHENTICATE (RFC 9051 sections 6.2; RFC 4959 SASL-IR; RFC 4616 PLAIN).</summary>
public sealed partial class ImapSession
{
    private const int MaxSaslSteps = 5;

    private async Task StartTlsAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 0);
        if (_connection.IsSecure || !_connection.CanStartTls)
        {
            Bad(_connection.IsSecure ? "TLS is already active" : "STARTTLS is not available");
            return;
        }

        _writer.Tagged(c.Tag, "OK", "Begin TLS negotiation now");
        await _writer.FlushAsync(ct);
        await _connection.UpgradeToTlsAsync(_options.Listeners.Imap.Limits.HandshakeTimeout, ct);
        _input = _connection.Input;
        _writer.Reset(_connection.Output);
    }

    private async Task LoginAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 2);
        var user = AString(c.Args[0]);
        var password = AString(c.Args[1]);
        if (!_connection.IsSecure)
        {
            No("[PRIVACYREQUIRED] LOGIN is disabled until STARTTLS");
            return;
        }

        await CompleteLoginAsync(user, password, ct);
    }

    private async Task AuthenticateAsync(ImapCommand c, CancellationToken ct)
    {
        if (c.Args.Count is < 1 or > 2)
        {
            throw new CommandSyntaxException("AUTHENTICATE mechanism [initial-response]");
        }

        if (!_connection.IsSecure)
        {
            No("[PRIVACYREQUIRED] Authentication is disabled until STARTTLS");
            return;
        }

        var exchange = SaslExchange.Start(AString(c.Args[0]));
        if (exchange is null)
        {
            No("Unsupported authentication mechanism");
            return;
        }

        SaslStep step;
        if (c.Args.Count == 2)
        {
            step = exchange.Next(AString(c.Args[1]));
        }
        else
        {
            step = SaslStep.Challenge(exchange.FirstChallenge);
        }

        for (var i = 0; step.Kind == SaslStepKind.Challenge; i++)
        {
            if (i >= MaxSaslSteps)
            {
                Bad("Too many authentication steps");
                return;
            }

            _writer.Continuation(step.ChallengeBase64 ?? string.Empty);
            await _writer.FlushAsync(ct);
            var line = await ReadLineAsync(_options.Listeners.Imap.Limits.CommandTimeout, ct);
            if (line is null)
            {
                throw new IOException("Client closed the connection during AUTHENTICATE");
            }

            step = exchange.Next(line.Trim());
        }

        switch (step.Kind)
        {
            case SaslStepKind.Cancelled:
                Bad("Authentication cancelled");
                return;
            case SaslStepKind.Failed:
                Bad(step.Error ?? "Authentication failed");
                return;
        }

        await CompleteLoginAsync(step.Username!, step.Password!, ct);
    }

    private async Task CompleteLoginAsync(string user, string password, CancellationToken ct)
    {
        var result = await _auth.AuthenticateAsync(user, password, _connection.RemoteEndPoint.Address, "imap", ct);
        switch (result.Outcome)
        {
            case AuthOutcome.Success when result.Account is not null:
                break;
            case AuthOutcome.Disabled:
                No("[AUTHORIZATIONFAILED] Account disabled");
                return;
            case AuthOutcome.Throttled:
                No("[UNAVAILABLE] Too many failed logins; try later");
                return;
            default:
                No("[AUTHENTICATIONFAILED] Invalid credentials");
                return;
        }

        var account = result.Account!;
        var max = _options.Imap.MaxSessionsPerUser;
        var count = ImapConnectionHandler.SessionsPerUser(_store).AddOrUpdate(account.Id, 1, (_, n) => n + 1);
        if (count > max)
        {
            ImapConnectionHandler.SessionsPerUser(_store).AddOrUpdate(account.Id, 0, (_, n) => Math.Max(0, n - 1));
            No("[LIMIT] Too many sessions for this user");
            return;
        }

        _sessionCounted = true;
        _account = account;
        _state = ImapState.Authenticated;
        Ok("[CAPABILITY " + Capabilities() + "] Logged in");
    }

    private AccountRecord Account => _account ?? throw new InvalidOperationException("Not authenticated");
}
