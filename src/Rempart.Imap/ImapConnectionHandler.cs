using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Store;
using Rempart.Store.Auth;

namespace Rempart.Imap;

/// <summary>
/// The IMAP listener's connection handler (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1 clients served too). One
/// <see cref="ImapSession"/> per connection; with <c>implicitTls</c> the listener has already completed the handshake.
/// </summary>
/// <param name="feedback">Told when a user moves mail into or out of Junk (the anti-spam learns from it); null = nobody.</param>
public sealed class ImapConnectionHandler(IMailStore store, IAuthService auth, RempartOptions options, ILoggerFactory loggerFactory, bool implicitTls, IMailFeedback? feedback = null) : IConnectionHandler
{
    private readonly IMailFeedback _feedback = feedback ?? NoMailFeedback.Instance;

    private readonly ILogger _logger = loggerFactory.CreateLogger("Rempart.Imap");

    private static readonly ConditionalWeakTable<IMailStore, ConcurrentDictionary<long, int>> s_sessionsPerUser = new();

    /// <summary>Sessions per account of one store, across every IMAP listener of the process (RempartOptions.Imap.MaxSessionsPerUser).</summary>
    internal static ConcurrentDictionary<long, int> SessionsPerUser(IMailStore store) => s_sessionsPerUser.GetValue(store, _ => new ConcurrentDictionary<long, int>());

    public async Task HandleAsync(NetConnection connection, CancellationToken shutdown)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var session = new ImapSession(connection, store, auth, options, _logger, implicitTls) { Feedback = _feedback };
        await session.RunAsync(shutdown);
    }
}
