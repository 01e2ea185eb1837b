using Rempart.Imap.Protocol;

namespace Rempart.Imap;

/// <summary>CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE (RFC 9051 sections 6.1, 6.3.1, 6.3.10; RFC 2971).</summary>
public sealed partial class ImapSession
{
    private bool _condstore;
    private bool _qresync;
    private bool _utf8;
    private bool _rev2;
    private (string Status, string Text)? _completion;

    private string Capabilities()
    {
        var caps = "IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN CONDSTORE QRESYNC "
            + "ESEARCH SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES LIST-EXTENDED LIST-STATUS SPECIAL-USE STATUS=SIZE "
            + "QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE UTF8=ACCEPT BINARY COMPRESS=DEFLATE";
        if (_connection.IsSecure)
        {
            // RFC 4959 SASL-IR; PLAIN only once the channel is private.
            return caps + (_state == ImapState.NotAuthenticated ? " AUTH=PLAIN AUTH=LOGIN SASL-IR" : string.Empty);
        }

        // RFC 9051 section 6.2.3: no cleartext passwords before TLS.
        return caps + (_connection.CanStartTls ? " STARTTLS" : string.Empty) + " LOGINDISABLED";
    }

    private void Ok(string text) => _completion = ("OK", text);

    private void No(string text) => _completion = ("NO", text);

    private void Bad(string text) => _completion = ("BAD", text);

    private Task CapabilityAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        RequireArgs(c, 0);
        _writer.Untagged("CAPABILITY " + Capabilities());
        Ok("CAPABILITY completed");
        return Task.CompletedTask;
    }

    private Task NoopAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        RequireArgs(c, 0);
        Ok("NOOP completed");
        return Task.CompletedTask;
    }

    private Task LogoutAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        RequireArgs(c, 0);
        _writer.Untagged("BYE Rempart IMAP logging out");
        Ok("LOGOUT completed");
        _state = ImapState.Logout;
        return Task.CompletedTask;
    }

    private Task IdAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        // RFC 2971: the client's list (or NIL) is informational only.
        if (c.Args.Count != 1 || !(c.Args[0].IsNil || c.Args[0].Kind == ImapArgKind.List) || c.Args[0].Items.Count > 60)
        {
            throw new CommandSyntaxException("ID takes a list of field/value pairs or NIL");
        }

        _writer.Untagged("ID (\"name\" \"Rempart\" \"vendor\" \"Rempart\")");
        Ok("ID completed");
        return Task.CompletedTask;
    }

    private Task EnableAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        if (c.Args.Count == 0)
        {
            throw new CommandSyntaxException("ENABLE needs at least one capability");
        }

        var enabled = new List<string>();
        foreach (var arg in c.Args)
        {
            // RFC 5161: unknown capabilities are ignored, only newly enabled ones are listed.
            switch (arg.Text.ToUpperInvariant())
            {
                case "IMAP4REV2":
                    _rev2 = true;
                    _utf8 = true;
                    enabled.Add("IMAP4rev2");
                    break;
                case "CONDSTORE":
                    _condstore = true;
                    enabled.Add("CONDSTORE");
                    break;
                case "QRESYNC":
                    _qresync = true;
                    _condstore = true;
                    enabled.Add("QRESYNC");
                    break;
                case "UTF8=ACCEPT":
                    _utf8 = true;
                    enabled.Add("UTF8=ACCEPT");
                    break;
            }
        }

        _writer.Untagged(enabled.Count == 0 ? "ENABLED" : "ENABLED " + string.Join(' ', enabled));
        Ok("ENABLE completed");
        return Task.CompletedTask;
    }

    private Task NamespaceAsync(ImapCommand c, CancellationToken ct)
    {
        _ = ct;
        RequireArgs(c, 0);
        _writer.Untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
        Ok("NAMESPACE completed");
        return Task.CompletedTask;
    }

    private static void RequireArgs(ImapCommand c, int count)
    {
        if (c.Args.Count != count)
        {
            throw new CommandSyntaxException(count == 0 ? c.Name + " takes no arguments" : c.Name + " takes " + count + " arguments");
        }
    }

    /// <summary>An astring argument (atom, quoted or literal).</summary>
    private static string AString(ImapArg arg)
    {
        if (!arg.IsString)
        {
            throw new CommandSyntaxException("Expected a string");
        }

        return arg.Text;
    }
}
