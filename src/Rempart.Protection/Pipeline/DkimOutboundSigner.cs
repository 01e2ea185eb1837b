using MimeKit;
using Rempart.SenderAuth;
using Rempart.Smtp.Filters;

namespace Rempart.Protection.Pipeline;

/// <summary>
/// Outbound DKIM for SMTP submission: signs with the key of the RFC5322.From domain (the one DMARC aligns with), when
/// that domain has a key in the data folder's dkim/ (see <c>rempart dkim generate</c>).
/// </summary>
public sealed class DkimOutboundSigner(OutboundDkimSigner signer) : IOutboundSigner
{
    public ReadOnlyMemory<byte> Sign(ReadOnlyMemory<byte> message, FilterContext context)
    {
        var domain = FromDomain(message) ?? DomainOf(context.AuthenticatedUser);
        return domain is null ? message : signer.Sign(message, domain);
    }

    private static string? FromDomain(ReadOnlyMemory<byte> message)
    {
        try
        {
            using var stream = new MemoryStream(message.ToArray(), writable: false);
            var headers = HeaderList.Load(ParserOptions.Default, stream);
            var from = headers[HeaderId.From];
            return from is not null && InternetAddressList.TryParse(from, out var list) && list.Mailboxes.FirstOrDefault() is { } mailbox
                ? DomainOf(mailbox.Address)
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string? DomainOf(string? address)
    {
        var at = address?.LastIndexOf('@') ?? -1;
        return at > 0 ? address![(at + 1)..].ToLowerInvariant() : null;
    }
}
