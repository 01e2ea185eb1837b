using System.Net;

namespace Rempart.Store.Auth;

public enum AuthOutcome
{
    Success,

    /// <summary>Unknown user or wrong password (never say which).</summary>
    BadCredentials,

    /// <summary>The account exists but is disabled.</summary>
    Disabled,

    /// <summary>Too many failures: the address or the account is temporarily banned.</summary>
    Throttled,
}

public sealed record AuthResult(AuthOutcome Outcome, AccountRecord? Account)
{
    public bool Succeeded => Outcome == AuthOutcome.Success;
}

/// <summary>
/// The one authentication service every protocol uses: Argon2id verification plus failure throttling per IP and per
/// account (5 failures in 10 minutes ban the address for 10 minutes by default; repeat offenders longer).
/// </summary>
public interface IAuthService
{
    /// <param name="protocol">"smtp", "imap", "pop3", "http": for logs and metrics.</param>
    Task<AuthResult> AuthenticateAsync(string username, string password, IPAddress remote, string protocol, CancellationToken ct = default);

    /// <summary>True when the address is banned now (listeners may refuse such connections early).</summary>
    bool IsBanned(IPAddress remote);
}
