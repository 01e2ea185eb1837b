using Microsoft.Extensions.Logging;
using Rempart.Antispam;
using Rempart.Antivirus;
using Rempart.Common.Configuration;
using Rempart.Protection.Quarantine;
using Rempart.Protection.Reputation;
using Rempart.Protection.Rules;
using Rempart.SenderAuth;
using Rempart.Store;

namespace Rempart.Protection.Pipeline;

/// <summary>
/// Everything the pipeline uses, built once by the server (src/Rempart.Server/ServerRunner.cs). A part left null is
/// off: no sender authentication, no spam scoring; the attachment policy always runs because the scanner exists
/// even without clamd.
/// </summary>
public sealed class ProtectionServices
{
    public required RempartOptions Options { get; init; }

    public required IMailStore Store { get; init; }

    public required ILoggerFactory Loggers { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public SenderAuthenticator? SenderAuth { get; init; }

    public SpamEngine? Spam { get; init; }

    public required MalwareScanner Antivirus { get; init; }

    /// <summary>The current mail-flow rules (reloaded when they change).</summary>
    public required RuleSetCache Rules { get; init; }

    public required QuarantineService Quarantine { get; init; }

    public required ReputationTracker Reputation { get; init; }

    public DnsblChecker? Dnsbl { get; init; }

    public ITraceSink Trace { get; init; } = NoTraceSink.Instance;
}
