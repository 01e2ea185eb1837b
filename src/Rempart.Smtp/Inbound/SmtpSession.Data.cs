using System.Globalization;
using Rempart.Smtp.Protocol;

namespace Rempart.Smtp.Inbound;

internal sealed partial class SmtpSession
{
    private async Task DataAsync(string argument)
    {
        var tx = _tx!;
        if (argument.Length != 0)
        {
            Error(SmtpReply.ParameterSyntax);
            return;
        }

        // RFC 3030 section 3: BINARYMIME content can only travel with BDAT.
        if (tx.Parameters.Body == BodyType.BinaryMime)
        {
            Error(new SmtpReply(503, "5.5.1", "BODY=BINARYMIME requires BDAT"));
            return;
        }

        Reply(SmtpReply.StartData);
        var buffer = new MessageBuffer(_s.Options.Smtp.MaxMessageSize);
        var reader = new SmtpDataReader(buffer);
        while (true)
        {
            var result = await ReadAsync(commandInProgress: true);
            var input = result.Buffer;
            var done = reader.Read(ref input);
            _input.AdvanceTo(input.Start, done ? input.Start : input.End);
            if (done)
            {
                break;
            }

            if (result.IsCompleted)
            {
                // The client went away mid-message: nothing was acknowledged, nothing is kept.
                _closing = true;
                return;
            }
        }

        _transcript.Client(string.Create(CultureInfo.InvariantCulture, $"<{buffer.TotalLength} bytes of message data>"));
        if (reader.SawBareLineEnding)
        {
            // Read to the real end, then refuse the whole message: exactly one reply, never two messages.
            Telemetry.RempartMetrics.MessagesRejected.WithLabels(_s.Protocol, "bare-line-ending").Inc();
            SmtpLog.MessageRejected(_s.Logger, _connection.Id, SmtpReply.BareLineEndingInData.ToString());
            ResetTransaction();
            Error(SmtpReply.BareLineEndingInData);
            return;
        }

        if (buffer.Overflowed)
        {
            Telemetry.RempartMetrics.MessagesRejected.WithLabels(_s.Protocol, "size").Inc();
            ResetTransaction();
            Error(SmtpReply.MessageTooBig);
            return;
        }

        await FinishMessageAsync(tx, buffer.Content);
    }

    private async Task BdatAsync(string argument)
    {
        if (!BdatArgumentParser.TryParse(argument, out var size, out var last))
        {
            // Without a valid size the chunk boundary is unknown: the rest of the stream cannot be trusted.
            Reply(new SmtpReply(421, "4.5.2", "Malformed BDAT command, closing connection"));
            return;
        }

        var refusal = SmtpStateTable.Check(SmtpVerb.Bdat, _state);
        var tx = _tx;
        if (refusal is null && tx!.Chunks is null)
        {
            tx.Chunks = new MessageBuffer(_s.Options.Smtp.MaxMessageSize);
        }

        var sink = refusal is null ? tx!.Chunks : null;
        if (!await ReadChunkAsync(size, sink))
        {
            _closing = true;
            return;
        }

        _transcript.Client(string.Create(CultureInfo.InvariantCulture, $"<{size} bytes of chunk data>"));
        if (refusal is { } r)
        {
            Error(r);
            return;
        }

        if (sink!.Overflowed)
        {
            // RFC 3030 section 2: the transaction fails; further chunks of it are refused with 503 until RSET.
            Telemetry.RempartMetrics.MessagesRejected.WithLabels(_s.Protocol, "size").Inc();
            ResetTransaction();
            Error(SmtpReply.MessageTooBig);
            return;
        }

        if (!last)
        {
            _state = SmtpState.Chunking;
            Reply(new SmtpReply(250, "2.0.0", string.Create(CultureInfo.InvariantCulture, $"{size} octets received")));
            return;
        }

        await FinishMessageAsync(tx!, sink.Content);
    }

    /// <summary>Reads exactly <paramref name="size"/> bytes into <paramref name="sink"/> (or discards them when null).</summary>
    private async Task<bool> ReadChunkAsync(long size, MessageBuffer? sink)
    {
        var remaining = size;
        while (remaining > 0)
        {
            var result = await ReadAsync(commandInProgress: true);
            var input = result.Buffer;
            var take = Math.Min(remaining, input.Length);
            if (sink is not null)
            {
                foreach (var segment in input.Slice(0, take))
                {
                    sink.Append(segment.Span);
                }
            }

            remaining -= take;
            var consumed = input.GetPosition(take);
            _input.AdvanceTo(consumed, remaining > 0 ? input.End : consumed);
            if (remaining > 0 && result.IsCompleted)
            {
                return false;
            }
        }

        return true;
    }

    private async Task FinishMessageAsync(Transaction tx, ReadOnlyMemory<byte> message)
    {
        _transactions++;
        var queueId = string.Create(CultureInfo.InvariantCulture, $"{_connection.Id}.{_transactions}");
        var context = new DeliveryContext(
            _s,
            _connection.Id,
            queueId,
            _helo ?? "unknown",
            _esmtp,
            _connection.RemoteEndPoint.Address,
            _connection.IsSecure ? TlsName(_connection.TlsProtocol) : null,
            _connection.IsSecure ? _connection.TlsCipher : null,
            _account,
            _filterContext);
        SmtpReply reply;
        try
        {
            reply = await InboundDelivery.DeliverAsync(context, tx, message, _shutdown);
        }
        finally
        {
            ResetTransaction();
        }

        if (reply.IsError)
        {
            Error(reply);
        }
        else
        {
            Reply(reply);
        }
    }

    /// <summary>The protocol as Received headers usually name it (RFC 8314 section 7.4 asks for the TLS details).</summary>
    private static string TlsName(System.Security.Authentication.SslProtocols protocol) => protocol switch
    {
        System.Security.Authentication.SslProtocols.Tls13 => "TLSv1.3",
        System.Security.Authentication.SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };
}
