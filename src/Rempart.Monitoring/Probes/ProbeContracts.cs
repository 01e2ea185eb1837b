namespace Rempart.Monitoring.Probes;

/// <summary>How a probe reaches TLS on its target.</summary>
public enum ProbeTls
{
    /// <summary>Plain text only (a probe that needs credentials refuses to send them).</summary>
    None,

    /// <summary>STARTTLS / STLS after the greeting.</summary>
    StartTls,

    /// <summary>TLS from the first byte (465, 993, 995, https).</summary>
    Implicit,
}

/// <summary>
/// One protocol endpoint to probe: "smtp" (greeting + EHLO, and AUTH when credentials are given), "imap" (greeting,
/// LOGIN + SELECT INBOX when credentials are given), "pop3" (greeting, USER/PASS + STAT), "http" (GET of
/// <see cref="Path"/>).
/// </summary>
/// <param name="VerifyCertificate">When true an untrusted chain or wrong name fails the probe; when false they are only reported.</param>
public sealed record ProbeTarget(
    string Protocol,
    string Host,
    int Port,
    ProbeTls Tls,
    string? User = null,
    string? Password = null,
    bool VerifyCertificate = false,
    string Path = "/");

/// <summary>The certificate a TLS probe saw.</summary>
public sealed record CertificateInfo(
    string Subject,
    string Issuer,
    DateTimeOffset NotAfter,
    bool ChainValid,
    bool NameMatches,
    string? ChainError);

/// <summary>What one probe measured. <see cref="Steps"/> lists each protocol step with its reply, for the report.</summary>
public sealed record ProbeOutcome(
    string Name,
    bool Success,
    TimeSpan Latency,
    string Detail,
    CertificateInfo? Certificate,
    IReadOnlyList<string> Steps);
