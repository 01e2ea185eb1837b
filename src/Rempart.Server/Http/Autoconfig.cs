using System.Globalization;
using System.Text;
using System.Xml;
using Rempart.Common.Configuration;

namespace Rempart.Server.Http;

/// <summary>
/// Mail client autoconfiguration documents: Mozilla/Thunderbird autoconfig (clientConfig 1.1, served at
/// /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml) and Outlook POX Autodiscover (POST
/// /autodiscover/autodiscover.xml). Host name from <see cref="RempartOptions.HostName"/>, ports from the enabled
/// listeners. Written with <see cref="XmlWriter"/> so an address from the request is always escaped.
/// </summary>
public static class Autoconfig
{
    /// <summary>Largest Autodiscover request body accepted (a real one is a few hundred bytes).</summary>
    public const int MaxRequestLength = 16 * 1024;

    private const string RequestNs = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
    private const string ResponseNs = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
    private const string OutlookResponseNs = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    /// <summary>The Thunderbird autoconfig document for <paramref name="emailAddress"/> (may be empty or invalid: the
    /// host name's settings are given then).</summary>
    public static string ThunderbirdXml(RempartOptions options, string emailAddress)
    {
        var domain = DomainOf(emailAddress) ?? options.HostName;
        var l = options.Listeners;
        return Write(w =>
        {
            w.WriteStartElement("clientConfig");
            w.WriteAttributeString("version", "1.1");
            w.WriteStartElement("emailProvider");
            w.WriteAttributeString("id", domain);
            w.WriteElementString("domain", domain);
            w.WriteElementString("displayName", domain + " (Rempart)");
            w.WriteElementString("displayShortName", domain);
            Server(w, "incomingServer", "imap", options.HostName, l.Imaps, "SSL");
            Server(w, "incomingServer", "imap", options.HostName, l.Imap, "STARTTLS");
            Server(w, "incomingServer", "pop3", options.HostName, l.Pop3s, "SSL");
            Server(w, "incomingServer", "pop3", options.HostName, l.Pop3, "STARTTLS");
            Server(w, "outgoingServer", "smtp", options.HostName, l.Submissions, "SSL");
            Server(w, "outgoingServer", "smtp", options.HostName, l.Submission, "STARTTLS");
            w.WriteEndElement();
            w.WriteEndElement();
        });
    }

    /// <summary>
    /// Answers an Outlook POX Autodiscover request. A malformed, oversized or unsupported request gets the
    /// Autodiscover error response (error code 600 "Invalid Request"), never an exception.
    /// </summary>
    public static string AutodiscoverXml(RempartOptions options, string requestXml)
    {
        var address = ParseRequest(requestXml);
        if (address is null)
        {
            return ErrorXml("600", "Invalid Request");
        }

        var l = options.Listeners;
        return Write(w =>
        {
            w.WriteStartElement("Autodiscover", ResponseNs);
            w.WriteStartElement("Response", OutlookResponseNs);
            w.WriteStartElement("User", OutlookResponseNs);
            w.WriteElementString("DisplayName", OutlookResponseNs, address);
            w.WriteEndElement();
            w.WriteStartElement("Account", OutlookResponseNs);
            w.WriteElementString("AccountType", OutlookResponseNs, "email");
            w.WriteElementString("Action", OutlookResponseNs, "settings");
            Protocol(w, "IMAP", options.HostName, address, l.Imaps, l.Imap);
            Protocol(w, "POP3", options.HostName, address, l.Pop3s, l.Pop3);
            Protocol(w, "SMTP", options.HostName, address, l.Submissions, l.Submission);
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteEndElement();
        });
    }

    /// <summary>The EMailAddress of a request, or null when the request is not a valid Outlook POX request.</summary>
    private static string? ParseRequest(string requestXml)
    {
        if (string.IsNullOrWhiteSpace(requestXml) || requestXml.Length > MaxRequestLength)
        {
            return null;
        }

        var settings = new XmlReaderSettings
        {
            // No DTDs, no external entities: the body comes from anyone on the network.
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = MaxRequestLength,
            IgnoreComments = true,
            IgnoreWhitespace = true,
        };
        try
        {
            using var reader = XmlReader.Create(new StringReader(requestXml), settings);
            if (reader.MoveToContent() != XmlNodeType.Element || reader.LocalName != "Autodiscover" || reader.NamespaceURI != RequestNs)
            {
                return null;
            }

            string? address = null;
            string? schema = null;
            reader.Read();
            while (!reader.EOF)
            {
                // ReadElementContentAsString already moves to the next node: do not Read() past it.
                if (reader.NodeType == XmlNodeType.Element && reader.NamespaceURI == RequestNs && reader.LocalName == "EMailAddress")
                {
                    address = reader.ReadElementContentAsString().Trim();
                }
                else if (reader.NodeType == XmlNodeType.Element && reader.NamespaceURI == RequestNs && reader.LocalName == "AcceptableResponseSchema")
                {
                    schema = reader.ReadElementContentAsString().Trim();
                }
                else
                {
                    reader.Read();
                }
            }

            if (schema is not null && schema != OutlookResponseNs)
            {
                return null;
            }

            return address is not null && DomainOf(address) is not null ? address : null;
        }
        catch (XmlException)
        {
            return null;
        }
    }

    /// <summary>The domain of a plausible address (local@domain, no controls, at most 320 characters), else null.</summary>
    private static string? DomainOf(string? address)
    {
        if (string.IsNullOrEmpty(address) || address.Length > 320 || address.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            return null;
        }

        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1 || address.IndexOf('@', StringComparison.Ordinal) != at)
        {
            return null;
        }

        return address[(at + 1)..].ToLowerInvariant();
    }

    private static string ErrorXml(string code, string message) => Write(w =>
    {
        w.WriteStartElement("Autodiscover", ResponseNs);
        w.WriteStartElement("Response", ResponseNs);
        w.WriteStartElement("Error", ResponseNs);
        w.WriteAttributeString("Time", DateTimeOffset.UtcNow.ToString("HH:mm:ss.fffffff", CultureInfo.InvariantCulture));
        w.WriteAttributeString("Id", "0");
        w.WriteElementString("ErrorCode", ResponseNs, code);
        w.WriteElementString("Message", ResponseNs, message);
        w.WriteElementString("DebugData", ResponseNs, string.Empty);
        w.WriteEndElement();
        w.WriteEndElement();
        w.WriteEndElement();
    });

    private static void Server(XmlWriter w, string element, string type, string host, ListenerOptions listener, string socketType)
    {
        if (!listener.Enabled)
        {
            return;
        }

        w.WriteStartElement(element);
        w.WriteAttributeString("type", type);
        w.WriteElementString("hostname", host);
        w.WriteElementString("port", listener.Port.ToString(CultureInfo.InvariantCulture));
        w.WriteElementString("socketType", socketType);
        w.WriteElementString("authentication", "password-cleartext");
        w.WriteElementString("username", "%EMAILADDRESS%");
        w.WriteEndElement();
    }

    /// <summary>One Protocol entry: implicit TLS when that listener is on (SSL on), else the STARTTLS port
    /// (SSL on with Encryption TLS).</summary>
    private static void Protocol(XmlWriter w, string type, string host, string address, ListenerOptions implicitTls, ListenerOptions startTls)
    {
        var listener = implicitTls.Enabled ? implicitTls : startTls.Enabled ? startTls : null;
        if (listener is null)
        {
            return;
        }

        w.WriteStartElement("Protocol", OutlookResponseNs);
        w.WriteElementString("Type", OutlookResponseNs, type);
        w.WriteElementString("Server", OutlookResponseNs, host);
        w.WriteElementString("Port", OutlookResponseNs, listener.Port.ToString(CultureInfo.InvariantCulture));
        w.WriteElementString("DomainRequired", OutlookResponseNs, "off");
        w.WriteElementString("LoginName", OutlookResponseNs, address);
        w.WriteElementString("SPA", OutlookResponseNs, "off");
        w.WriteElementString("SSL", OutlookResponseNs, "on");
        if (!implicitTls.Enabled)
        {
            w.WriteElementString("Encryption", OutlookResponseNs, "TLS");
        }

        w.WriteElementString("AuthRequired", OutlookResponseNs, "on");
        if (type == "SMTP")
        {
            w.WriteElementString("UsePOPAuth", OutlookResponseNs, "off");
            w.WriteElementString("SMTPLast", OutlookResponseNs, "off");
        }

        w.WriteEndElement();
    }

    private static string Write(Action<XmlWriter> body)
    {
        var sb = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), OmitXmlDeclaration = false };
        using (var sw = new Utf8StringWriter(sb))
        using (var w = XmlWriter.Create(sw, settings))
        {
            w.WriteStartDocument();
            body(w);
            w.WriteEndDocument();
        }

        return sb.ToString();
    }

    /// <summary>Makes the XML declaration say UTF-8 (the HTTP response is UTF-8), not the UTF-16 of a string.</summary>
    private sealed class Utf8StringWriter(StringBuilder sb) : StringWriter(sb, CultureInfo.InvariantCulture)
    {
        public override Encoding Encoding => Encoding.UTF8;
    }
}
