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
/// <param name="ExpectStatus">http only: the status the GET must answer; null accepts any 2xx or 3xx.</param>
public sealed record ProbeTarget(
    string Protocol,
    string Host,
    int Port,
    ProbeTls Tls,
    string? User = null,
    string? Password = null,
    bool VerifyCertificate = false,
    string Path = "/",
    int? ExpectStatus = null)
{
    /// <summary>Keeps the password out of ToString, so a logged target never leaks it.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("Protocol = ").Append(Protocol).Append(", Host = ").Append(Host)
            .Append(", Port = ").Append(Port.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append(", Tls = ").Append(Tls).Append(", User = ").Append(User)
            .Append(", Password = ").Append(Password is null ? "null" : "***")
            .Append(", VerifyCertificate = ").Append(VerifyCertificate).Append(", Path = ").Append(Path);
        return true;
    }
}

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
