using System.Globalization;
using System.Text;

namespace Rempart.Monitoring.Probes;

/// <summary>A reply of an SMTP server: the code and every line's text (RFC 5321 4.2).</summary>
internal sealed record SmtpProbeReply(int Code, IReadOnlyList<string> Lines)
{
    public string Text => Lines.Count == 0 ? "" : Lines[0];

    public override string ToString() => Code.ToString(CultureInfo.InvariantCulture) + " " + Text;
}

/// <summary>The client side of an SMTP dialogue, as far as a probe needs it: greeting, EHLO, STARTTLS, AUTH, one message.</summary>
internal sealed class SmtpProbeDialog(ProbeConnection connection, ProbeTarget target)
{
    private IReadOnlyList<string> _extensions = [];

    /// <summary>Parses one reply line: "250-text" (more follow) or "250 text" (last); null when malformed.</summary>
    internal static (int Code, bool More, string Text)? ParseReplyLine(string line)
    {
        if (line.Length < 3 || !char.IsAsciiDigit(line[0]) || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2]))
        {
            return null;
        }

        var code = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
        if (line.Length == 3)
        {
            return (code, false, "");
        }

        return line[3] switch
        {
            '-' => (code, true, line[4..]),
            ' ' => (code, false, line[4..]),
            _ => null,
        };
    }

    public async Task<SmtpProbeReply> ReadReplyAsync(CancellationToken ct)
    {
        var lines = new List<string>();
        for (var i = 0; i < ProbeLimits.MaxReplyLines; i++)
        {
            var line = await connection.ReadLineAsync(ct);
            var parsed = ParseReplyLine(line)
                ?? throw new ProbeFailedException($"{connection.CurrentStep}: malformed SMTP reply \"{Clip(line)}\"");
            lines.Add(parsed.Text);
            if (!parsed.More)
            {
                return new SmtpProbeReply(parsed.Code, lines);
            }
        }

        throw new ProbeFailedException($"{connection.CurrentStep}: reply of more than {ProbeLimits.MaxReplyLines} lines");
    }

    /// <summary>Sends a command and expects a reply in <paramref name="expected"/>'s hundred (2 for 2xx, 3 for 3xx).</summary>
    public async Task<SmtpProbeReply> CommandAsync(string step, string command, int expected, CancellationToken ct, string? shown = null)
    {
        connection.Begin(step);
        await connection.WriteLineAsync(command, ct);
        var reply = await ReadReplyAsync(ct);
        connection.Record(shown ?? step, reply.ToString());
        if (reply.Code / 100 != expected)
        {
            throw new ProbeFailedException($"{step} refused: {reply}");
        }

        return reply;
    }

    /// <summary>Greeting, EHLO, STARTTLS when asked (then EHLO again, RFC 3207 4.2), AUTH when credentials are given.</summary>
    public async Task OpenAsync(CancellationToken ct)
    {
        connection.Begin("greeting");
        var greeting = await ReadReplyAsync(ct);
        connection.Record("greeting", greeting.ToString());
        if (greeting.Code != 220)
        {
            throw new ProbeFailedException("greeting refused: " + greeting);
        }

        await EhloAsync(ct);
        if (target.Tls == ProbeTls.StartTls)
        {
            if (!HasExtension("STARTTLS"))
            {
                throw new ProbeFailedException("the server does not offer STARTTLS");
            }

            await CommandAsync("STARTTLS", "STARTTLS", 2, ct);
            await connection.UpgradeToTlsAsync(ct);
            await EhloAsync(ct);
        }

        if (target.User is not null)
        {
            await AuthenticateAsync(target.User, target.Password ?? "", ct);
        }
    }

    private async Task EhloAsync(CancellationToken ct)
    {
        var reply = await CommandAsync("EHLO", "EHLO " + connection.LocalAddressLiteral, 2, ct);
        _extensions = [.. reply.Lines.Skip(1)];
    }

    private bool HasExtension(string keyword) =>
        _extensions.Any(e => e.Equals(keyword, StringComparison.OrdinalIgnoreCase)
            || e.StartsWith(keyword + " ", StringComparison.OrdinalIgnoreCase));

    private IEnumerable<string> AuthMechanisms() =>
        _extensions.Where(e => e.StartsWith("AUTH ", StringComparison.OrdinalIgnoreCase) || e.StartsWith("AUTH=", StringComparison.OrdinalIgnoreCase))
            .SelectMany(e => e[5..].Split(' ', StringSplitOptions.RemoveEmptyEntries));

    // RFC 4954 AUTH with PLAIN (RFC 4616), or LOGIN when it is the only one offered.
    private async Task AuthenticateAsync(string user, string password, CancellationToken ct)
    {
        connection.RequireTlsForCredentials();
        var mechanisms = AuthMechanisms().ToList();
        if (mechanisms.Contains("PLAIN", StringComparer.OrdinalIgnoreCase))
        {
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));
            await CommandAsync("AUTH PLAIN", "AUTH PLAIN " + plain, 2, ct);
        }
        else if (mechanisms.Contains("LOGIN", StringComparer.OrdinalIgnoreCase))
        {
            await CommandAsync("AUTH LOGIN", "AUTH LOGIN", 3, ct);
            await CommandAsync("AUTH LOGIN user", Convert.ToBase64String(Encoding.UTF8.GetBytes(user)), 3, ct);
            await CommandAsync("AUTH LOGIN password", Convert.ToBase64String(Encoding.UTF8.GetBytes(password)), 2, ct);
        }
        else
        {
            throw new ProbeFailedException(mechanisms.Count == 0
                ? "the server offers no AUTH mechanism"
                : "the server offers neither AUTH PLAIN nor LOGIN (" + string.Join(' ', mechanisms) + ")");
        }
    }

    /// <summary>MAIL, RCPT, DATA with dot-stuffing (RFC 5321 4.5.2); returns the final reply.</summary>
    public async Task<SmtpProbeReply> SendAsync(string from, string to, string message, CancellationToken ct)
    {
        await CommandAsync("MAIL FROM", "MAIL FROM:<" + from + ">", 2, ct);
        await CommandAsync("RCPT TO", "RCPT TO:<" + to + ">", 2, ct);
        await CommandAsync("DATA", "DATA", 3, ct);
        var body = new StringBuilder();
        foreach (var line in message.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            body.Append(line.StartsWith('.') ? "." + line : line).Append("\r\n");
        }

        body.Append(".\r\n");
        connection.Begin("message");
        await connection.WriteRawAsync(Encoding.UTF8.GetBytes(body.ToString()), ct);
        var reply = await ReadReplyAsync(ct);
        connection.Record("message", reply.ToString());
        if (reply.Code / 100 != 2)
        {
            throw new ProbeFailedException("message refused: " + reply);
        }

        return reply;
    }

    public async Task QuitAsync(CancellationToken ct) => await CommandAsync("QUIT", "QUIT", 2, ct);

    internal static string Clip(string line) => line.Length <= 80 ? line : line[..80] + "…";
}
