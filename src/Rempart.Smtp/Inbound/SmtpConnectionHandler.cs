using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Smtp.Filters;
using Rempart.Smtp.Queue;
using Rempart.Store;
using Rempart.Store.Auth;

namespace Rempart.Smtp.Inbound;

/// <summary>What a listener serves: mail exchange from the internet, or message submission (RFC 6409, RFC 8314).</summary>
public enum SmtpRole
{
    /// <summary>Port 25: accepts mail for local domains only, no AUTH.</summary>
    Mx,

    /// <summary>Port 587: STARTTLS then AUTH required before MAIL.</summary>
    Submission,

    /// <summary>Port 465: implicit TLS (done by the listener), AUTH required before MAIL.</summary>
    Submissions,
}

/// <summary>Runs one inbound SMTP session per accepted connection.</summary>
public sealed class SmtpConnectionHandler : IConnectionHandler
{
    private readonly SmtpSessionServices _services;

    public SmtpConnectionHandler(SmtpRole role, IMailStore store, IAuthService auth, IOutboundQueue queue, IMessageFilter filter, RempartOptions options, ILoggerFactory loggerFactory, IOutboundSigner? signer = null, ITraceSink? trace = null)
    {
        var limits = role switch
        {
            SmtpRole.Mx => options.Listeners.Smtp.Limits,
            SmtpRole.Submission => options.Listeners.Submission.Limits,
            _ => options.Listeners.Submissions.Limits,
        };
        _services = new SmtpSessionServices(role, store, auth, queue, filter, options, limits, loggerFactory.CreateLogger("Rempart.Smtp.Inbound"))
        {
            Signer = signer ?? NoOutboundSigner.Instance,
            Trace = trace ?? NoTraceSink.Instance,
        };
    }

    public SmtpRole Role => _services.Role;

    public async Task HandleAsync(NetConnection connection, CancellationToken shutdown)
    {
        using var session = new SmtpSession(_services, connection);
        await session.RunAsync(shutdown);
    }
}

/// <summary>Everything a session needs that outlives it.</summary>
internal sealed record SmtpSessionServices(
    SmtpRole Role,
    IMailStore Store,
    IAuthService Auth,
    IOutboundQueue Queue,
    IMessageFilter Filter,
    RempartOptions Options,
    ListenerLimits Limits,
    ILogger Logger)
{
    public bool IsSubmission => Role != SmtpRole.Mx;

    public IOutboundSigner Signer { get; init; } = NoOutboundSigner.Instance;

    public ITraceSink Trace { get; init; } = NoTraceSink.Instance;

    /// <summary>Metric label: "smtp" for MX, "submission" for both submission ports.</summary>
    public string Protocol => Role == SmtpRole.Mx ? "smtp" : "submission";
}
