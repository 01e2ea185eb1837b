using System.Buffers;
using System.Globalization;
using System.Text;

namespace Rempart.Smtp.Protocol;

/// <summary>
/// One SMTP reply: a three-digit code, an RFC 3463 enhanced status code (RFC 2034 ENHANCEDSTATUSCODES) and text.
/// <see cref="Enhanced"/> is empty only for the greeting and the EHLO/HELO reply, which RFC 2034 section 3 exempts.
/// </summary>
public readonly record struct SmtpReply(int Code, string Enhanced, string Text)
{
    /// <summary>True for 4xx and 5xx replies.</summary>
    public bool IsError => Code >= 400;

    /// <summary>True when the session must close after sending this reply (421, RFC 5321 section 3.8).</summary>
    public bool Closes => Code == 421;

    public override string ToString() => Enhanced.Length == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{Code} {Text}")
        : string.Create(CultureInfo.InvariantCulture, $"{Code} {Enhanced} {Text}");

    // The standard replies, in one place so the text and codes stay consistent.
    public static readonly SmtpReply Ok = new(250, "2.0.0", "OK");
    public static readonly SmtpReply ResetOk = new(250, "2.0.0", "Reset state");
    public static readonly SmtpReply SenderOk = new(250, "2.1.0", "Sender OK");
    public static readonly SmtpReply RecipientOk = new(250, "2.1.5", "Recipient OK");
    public static readonly SmtpReply Bye = new(221, "2.0.0", "Bye");
    public static readonly SmtpReply StartData = new(354, string.Empty, "Start mail input; end with <CRLF>.<CRLF>");
    public static readonly SmtpReply CannotVerify = new(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
    public static readonly SmtpReply ExpnDisabled = new(502, "5.5.1", "EXPN not available");
    public static readonly SmtpReply ReadyToStartTls = new(220, "2.0.0", "Ready to start TLS");
    public static readonly SmtpReply AuthSucceeded = new(235, "2.7.0", "Authentication successful");

    public static readonly SmtpReply SyntaxError = new(500, "5.5.2", "Syntax error, command unrecognized");
    public static readonly SmtpReply LineTooLong = new(500, "5.5.2", "Line too long");
    public static readonly SmtpReply BareLineEndingInCommand = new(500, "5.5.2", "Bare LF/CR not allowed in commands");
    public static readonly SmtpReply ParameterSyntax = new(501, "5.5.4", "Syntax error in parameters or arguments");
    public static readonly SmtpReply NotImplemented = new(502, "5.5.1", "Command not implemented");
    public static readonly SmtpReply BadSequence = new(503, "5.5.1", "Bad sequence of commands");
    public static readonly SmtpReply NeedHelo = new(503, "5.5.1", "Send EHLO or HELO first");
    public static readonly SmtpReply NeedMail = new(503, "5.5.1", "Need MAIL command");
    public static readonly SmtpReply NestedMail = new(503, "5.5.1", "Sender already specified");
    public static readonly SmtpReply NeedRcpt = new(554, "5.5.1", "No valid recipients");
    public static readonly SmtpReply BdatInProgress = new(503, "5.5.1", "BDAT transfer in progress; only BDAT, RSET, NOOP or QUIT allowed");
    public static readonly SmtpReply MixedDataBdat = new(503, "5.5.1", "DATA cannot be used after BDAT");
    public static readonly SmtpReply UnknownParameter = new(555, "5.5.4", "MAIL FROM/RCPT TO parameter not recognized or not implemented");
    public static readonly SmtpReply BadSenderSyntax = new(501, "5.1.7", "Bad sender address syntax");
    public static readonly SmtpReply BadRecipientSyntax = new(501, "5.1.3", "Bad recipient address syntax");
    public static readonly SmtpReply Utf8NotRequested = new(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");
    public static readonly SmtpReply RelayDenied = new(554, "5.7.1", "Relay access denied");
    public static readonly SmtpReply UnknownUser = new(550, "5.1.1", "No such user here");
    public static readonly SmtpReply MailboxDisabled = new(550, "5.2.1", "Mailbox disabled, not accepting messages");
    public static readonly SmtpReply TooManyRecipients = new(452, "4.5.3", "Too many recipients");
    public static readonly SmtpReply MailboxFull = new(452, "4.2.2", "Mailbox full");
    public static readonly SmtpReply MessageTooBig = new(552, "5.3.4", "Message size exceeds fixed maximum message size");
    public static readonly SmtpReply BareLineEndingInData = new(550, "5.6.11", "Bare LF/CR not allowed; message refused");
    public static readonly SmtpReply TooManyHops = new(554, "5.4.6", "Too many hops (mail loop detected)");
    public static readonly SmtpReply AuthRequired = new(530, "5.7.0", "Authentication required");
    public static readonly SmtpReply EncryptionRequiredForAuth = new(538, "5.7.11", "Encryption required for requested authentication mechanism");
    public static readonly SmtpReply AuthNotAvailable = new(502, "5.5.1", "AUTH not available on this port");
    public static readonly SmtpReply AlreadyAuthenticated = new(503, "5.5.1", "Already authenticated");
    public static readonly SmtpReply UnknownMechanism = new(504, "5.5.4", "Unrecognized authentication mechanism");
    public static readonly SmtpReply AuthFailed = new(535, "5.7.8", "Authentication credentials invalid");
    public static readonly SmtpReply AuthCancelled = new(501, "5.0.0", "Authentication cancelled");
    public static readonly SmtpReply AuthThrottled = new(454, "4.7.0", "Too many authentication failures, try again later");
    public static readonly SmtpReply SenderNotOwned = new(553, "5.7.1", "Sender address not owned by the authenticated user");
    public static readonly SmtpReply FromNotOwned = new(550, "5.7.1", "From header address not owned by the authenticated user");
    public static readonly SmtpReply TlsNotAvailable = new(454, "4.7.0", "TLS not available");
    public static readonly SmtpReply TlsAlreadyActive = new(503, "5.5.1", "TLS already active");
    public static readonly SmtpReply RequireTlsNeedsTls = new(530, "5.7.10", "REQUIRETLS needs a TLS session");
    public static readonly SmtpReply LocalError = new(451, "4.3.0", "Local error in processing, try again later");
    public static readonly SmtpReply TooManyErrors = new(421, "4.7.0", "Too many errors, closing connection");
    public static readonly SmtpReply Timeout = new(421, "4.4.2", "Timeout, closing connection");
    public static readonly SmtpReply ShuttingDown = new(421, "4.3.2", "Service shutting down, closing connection");
}

/// <summary>Writes replies in wire format, multi-line replies with "code-" continuation (RFC 5321 section 4.2.1).</summary>
public static class SmtpReplyWriter
{
    public static void Write(IBufferWriter<byte> output, SmtpReply reply)
    {
        WriteLine(output, reply.Code, reply.Enhanced, reply.Text, last: true);
    }

    /// <summary>Writes a multi-line reply: every line but the last uses the "250-" form.</summary>
    public static void WriteMultiline(IBufferWriter<byte> output, int code, string enhanced, IReadOnlyList<string> lines)
    {
        for (var i = 0; i < lines.Count; i++)
        {
            WriteLine(output, code, enhanced, lines[i], last: i == lines.Count - 1);
        }
    }

    private static void WriteLine(IBufferWriter<byte> output, int code, string enhanced, string text, bool last)
    {
        // Replies never carry a CR or LF inside their text: that would forge a reply line.
        var max = 4 + (enhanced.Length == 0 ? 0 : enhanced.Length + 1) + Encoding.UTF8.GetMaxByteCount(text.Length) + 2;
        var span = output.GetSpan(max);
        var n = 0;
        span[n++] = (byte)('0' + (code / 100 % 10));
        span[n++] = (byte)('0' + (code / 10 % 10));
        span[n++] = (byte)('0' + (code % 10));
        span[n++] = last ? (byte)' ' : (byte)'-';
        if (enhanced.Length != 0)
        {
            n += Encoding.ASCII.GetBytes(enhanced, span[n..]);
            span[n++] = (byte)' ';
        }

        var start = n;
        n += Encoding.UTF8.GetBytes(text, span[n..]);
        for (var i = start; i < n; i++)
        {
            if (span[i] is (byte)'\r' or (byte)'\n')
            {
                span[i] = (byte)' ';
            }
        }

        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        output.Advance(n);
    }
}
