using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Store;
using Rempart.Store.Auth;

namespace Rempart.Pop3;

/// <summary>
/// Serves POP3 (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595) and SASL AUTH (RFC 5034) on one accepted connection.
/// One instance per listener: "pop3" (plain, STLS offered) or "pop3s" (<paramref name="implicitTls"/>, the listener
/// has already completed the TLS handshake).
/// </summary>
public sealed class Pop3ConnectionHandler(IMailStore store, IAuthService auth, RempartOptions options, ILoggerFactory loggerFactory, bool implicitTls) : IConnectionHandler
{
    private readonly ILogger _logger = loggerFactory.CreateLogger("Rempart.Pop3");

    /// <summary>Runs the session until QUIT, a timeout, too many errors, the client leaving or server shutdown.
    /// Never throws for anything the client does.</summary>
    public async Task HandleAsync(NetConnection connection, CancellationToken shutdown)
    {
        var limits = implicitTls ? options.Listeners.Pop3s.Limits : options.Listeners.Pop3.Limits;
        var session = new Pop3Session(connection, store, auth, options, limits, _logger);
        await session.RunAsync(shutdown);
    }
}
