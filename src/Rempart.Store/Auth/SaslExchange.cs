using System.Text;

namespace Rempart.Store.Auth;

/// <summary>
/// Server side of the SASL mechanisms every protocol offers: PLAIN (RFC 4616) and LOGIN
/// (draft-murchison-sasl-login). Protocol sessions only move base64 lines; this class decodes them and yields
/// the credentials to check with <see cref="IAuthService"/>.
/// </summary>
public sealed class SaslExchange
{
    /// <summary>Mechanism names as advertised.</summary>
    public static readonly IReadOnlyList<string> Mechanisms = ["PLAIN", "LOGIN"];

    private readonly bool _plain;
    private string? _loginUser;

    private SaslExchange(bool plain) => _plain = plain;

    /// <summary>Starts an exchange, or returns null when the mechanism is not supported.</summary>
    public static SaslExchange? Start(string mechanism)
    {
        if (mechanism.Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            return new SaslExchange(plain: true);
        }

        if (mechanism.Equals("LOGIN", StringComparison.OrdinalIgnoreCase))
        {
            return new SaslExchange(plain: false);
        }

        return null;
    }

    /// <summary>The first challenge when the client sent no initial response (base64 text, possibly empty).</summary>
    public string FirstChallenge => _plain ? string.Empty : Convert.ToBase64String("Username:"u8);

    /// <summary>
    /// Feeds one client response line (base64, or "=" for an empty initial response as in RFC 4954) and returns the
    /// next step. A "*" line cancels the exchange.
    /// </summary>
    public SaslStep Next(string base64Response)
    {
        if (base64Response == "*")
        {
            return SaslStep.Cancelled();
        }

        byte[] data;
        if (base64Response is "=" or "")
        {
            data = [];
        }
        else
        {
            try
            {
                data = Convert.FromBase64String(base64Response);
            }
            catch (FormatException)
            {
                return SaslStep.Failed("Invalid base64 data");
            }
        }

        if (_plain)
        {
            if (data.Length == 0)
            {
                return SaslStep.Challenge(string.Empty);
            }

            // authzid NUL authcid NUL passwd
            var parts = Encoding.UTF8.GetString(data).Split('\0');
            if (parts.Length != 3 || parts[1].Length == 0)
            {
                return SaslStep.Failed("Malformed PLAIN response");
            }

            if (parts[0].Length > 0 && !parts[0].Equals(parts[1], StringComparison.OrdinalIgnoreCase))
            {
                return SaslStep.Failed("Authorization identity must match the user name");
            }

            return SaslStep.Done(parts[1], parts[2]);
        }

        if (_loginUser is null)
        {
            if (data.Length == 0)
            {
                return SaslStep.Challenge(FirstChallenge);
            }

            _loginUser = Encoding.UTF8.GetString(data);
            return SaslStep.Challenge(Convert.ToBase64String("Password:"u8));
        }

        return SaslStep.Done(_loginUser, Encoding.UTF8.GetString(data));
    }
}

public enum SaslStepKind
{
    Challenge,
    Done,
    Failed,
    Cancelled,
}

/// <summary>One step of a SASL exchange: a challenge to send, final credentials, or a failure.</summary>
public sealed record SaslStep(SaslStepKind Kind, string? ChallengeBase64, string? Username, string? Password, string? Error)
{
    public static SaslStep Challenge(string base64) => new(SaslStepKind.Challenge, base64, null, null, null);

    public static SaslStep Done(string user, string password) => new(SaslStepKind.Done, null, user, password, null);

    public static SaslStep Failed(string error) => new(SaslStepKind.Failed, null, null, null, error);

    public static SaslStep Cancelled() => new(SaslStepKind.Cancelled, null, null, null, "Authentication cancelled");
}
