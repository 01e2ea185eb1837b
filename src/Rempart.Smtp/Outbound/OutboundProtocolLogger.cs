using System.Globalization;
using System.Text;
using MailKit;
using Microsoft.Extensions.Logging;

namespace Rempart.Smtp.Outbound;

/// <summary>
/// Writes the outbound SMTP transcript to the log when <c>logging.protocol</c> is on. AUTH secrets found by MailKit's
/// detector are masked (house style habit 8), and long client writes (message data) are cut short.
/// </summary>
internal sealed partial class OutboundProtocolLogger(ILogger logger, string host) : IProtocolLogger
{
    /// <summary>Longest piece of one client write that is logged (message bodies are not transcribed whole).</summary>
    private const int MaxLogged = 512;

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    public void LogConnect(Uri uri) => LogLine(logger, host, "connect", uri.ToString());

    public void LogClient(byte[] buffer, int offset, int count)
    {
        var bytes = buffer.AsSpan(offset, count).ToArray();
        var secrets = AuthenticationSecretDetector?.DetectSecrets(buffer, offset, count);
        if (secrets is not null)
        {
            foreach (var secret in secrets)
            {
                var start = secret.StartIndex - offset;
                for (var i = Math.Max(0, start); i < Math.Min(bytes.Length, start + secret.Length); i++)
                {
                    bytes[i] = (byte)'*';
                }
            }
        }

        LogLine(logger, host, "C", Printable(bytes));
    }

    public void LogServer(byte[] buffer, int offset, int count) => LogLine(logger, host, "S", Printable(buffer.AsSpan(offset, count).ToArray()));

    public void Dispose()
    {
    }

    private static string Printable(byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, MaxLogged)).TrimEnd('\r', '\n');
        return bytes.Length > MaxLogged
            ? text + string.Create(CultureInfo.InvariantCulture, $" [... {bytes.Length - MaxLogged} more bytes]")
            : text;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "smtp-out {Host} {Direction}: {Text}")]
    private static partial void LogLine(ILogger logger, string host, string direction, string text);
}
