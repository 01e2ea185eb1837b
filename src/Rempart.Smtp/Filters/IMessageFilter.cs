using System.Net;

namespace Rempart.Smtp.Filters;

/// <summary>
/// Hooks the protection pipeline (Rempart.Protection) plugs into inbound SMTP. Each stage returns a
/// <see cref="FilterVerdict"/>; the session applies it. Stages run in the session's task: keep them asynchronous and
/// bounded in time.
/// </summary>
public interface IMessageFilter
{
    /// <summary>After the connection is accepted, before the greeting.</summary>
    ValueTask<FilterVerdict> OnConnectAsync(FilterContext context, CancellationToken ct);

    /// <summary>After MAIL FROM passed syntax and policy checks; <see cref="FilterContext.Sender"/> is set.</summary>
    ValueTask<FilterVerdict> OnMailFromAsync(FilterContext context, CancellationToken ct);

    /// <summary>For each RCPT TO that passed policy; the recipient is not yet in <see cref="FilterContext.Recipients"/>.</summary>
    ValueTask<FilterVerdict> OnRcptToAsync(FilterContext context, string recipient, CancellationToken ct);

    /// <summary>After the whole message is read (DATA or BDAT LAST), before anything is stored.</summary>
    /// <param name="message">The message as received, without the trace headers the server adds.</param>
    ValueTask<FilterVerdict> OnEndOfDataAsync(FilterContext context, ReadOnlyMemory<byte> message, CancellationToken ct);

    /// <summary>
    /// A RCPT the session refused on its own (unknown local user, relay attempt, over quota): evidence for the
    /// sender's reputation. <paramref name="enhanced"/> is the refusal's enhanced status code (for example "5.1.1").
    /// </summary>
    ValueTask OnRecipientRefusedAsync(FilterContext context, string recipient, string enhanced, CancellationToken ct) => ValueTask.CompletedTask;
}

/// <summary>
/// Signs mail that leaves the organisation (DKIM). Called by SMTP submission for the copy queued to remote recipients,
/// after the trace headers are added.
/// </summary>
public interface IOutboundSigner
{
    /// <summary>Returns the message with a signature added, or the same bytes when the sender's domain has no key.</summary>
    ReadOnlyMemory<byte> Sign(ReadOnlyMemory<byte> message, FilterContext context);
}

/// <summary>Signs nothing.</summary>
public sealed class NoOutboundSigner : IOutboundSigner
{
    public static readonly NoOutboundSigner Instance = new();

    public ReadOnlyMemory<byte> Sign(ReadOnlyMemory<byte> message, FilterContext context) => message;
}

/// <summary>What a filter knows about the session and the transaction so far.</summary>
public sealed class FilterContext
{
    public required string ConnectionId { get; init; }

    public required IPAddress RemoteAddress { get; init; }

    /// <summary>"mx", "submission" or "submissions".</summary>
    public required string Role { get; init; }

    /// <summary>EHLO/HELO argument, once given.</summary>
    public string? HeloName { get; internal set; }

    public bool IsSecure { get; internal set; }

    /// <summary>Authenticated account address (submission roles), else null.</summary>
    public string? AuthenticatedUser { get; internal set; }

    /// <summary>Envelope sender of the current transaction ("" for the null sender), null before MAIL.</summary>
    public string? Sender { get; internal set; }

    /// <summary>Accepted recipients of the current transaction.</summary>
    public IReadOnlyList<string> Recipients { get; internal set; } = [];

    /// <summary>The transaction's queue id (also its message-trace id); set before end of data.</summary>
    public string? QueueId { get; internal set; }

    /// <summary>A copy that later session changes do not affect (filters may keep it).</summary>
    internal FilterContext Snapshot() => (FilterContext)MemberwiseClone();
}

/// <summary>The filter's decision kinds.</summary>
public enum FilterAction
{
    Accept,

    /// <summary>Accept and deliver into a named folder (for example "Junk").</summary>
    FileInto,

    /// <summary>
    /// The filter holds the message away from the recipients (quarantine); the session answers 250 and delivers
    /// nothing.
    /// </summary>
    Quarantine,

    /// <summary>Refuse with a permanent (5xx) reply.</summary>
    Reject,

    /// <summary>Refuse with a temporary (4xx) reply.</summary>
    TempFail,
}

/// <summary>
/// A filter decision. <see cref="Headers"/> (for example Authentication-Results, X-Spam-Status) are prepended to the
/// stored message with any accepting action. At end of data an accepting verdict may also rewrite the message, decide
/// per recipient, change the recipients and pick an outbound route.
/// </summary>
public sealed record FilterVerdict(FilterAction Action, IReadOnlyList<KeyValuePair<string, string>> Headers, string? Folder, int Code, string Enhanced, string Text)
{
    /// <summary>The message to store and relay instead of the one received (mail-flow rules, removed headers).</summary>
    public ReadOnlyMemory<byte>? Message { get; init; }

    /// <summary>
    /// Decisions for single envelope recipients that differ from the message's (for example one user's own spam model
    /// sends the message to Junk). <see cref="FilterAction.Quarantine"/> here means the filter already holds the
    /// message for that recipient: the session delivers nothing to them.
    /// </summary>
    public IReadOnlyList<RecipientVerdict> PerRecipient { get; init; } = [];

    /// <summary>When set, replaces every envelope recipient (a rule's redirect).</summary>
    public IReadOnlyList<string>? RedirectTo { get; init; }

    /// <summary>Recipients added to the envelope (a rule's add recipient or BCC).</summary>
    public IReadOnlyList<string> AddRecipients { get; init; } = [];

    /// <summary>Named outbound route (RempartOptions.Routes) for the remote recipients.</summary>
    public string? Route { get; init; }

    public static readonly FilterVerdict Accept = new(FilterAction.Accept, [], null, 0, string.Empty, string.Empty);

    public static FilterVerdict AddHeaders(params IReadOnlyList<KeyValuePair<string, string>> headers) =>
        Accept with { Headers = headers };

    public static FilterVerdict FileInto(string folder) => Accept with { Action = FilterAction.FileInto, Folder = folder };

    public static FilterVerdict Quarantine(string reason) => Accept with { Action = FilterAction.Quarantine, Text = reason };

    /// <param name="code">A 5xx reply code (550, 554...).</param>
    public static FilterVerdict Reject(int code, string enhanced, string text)
    {
        if (code is < 500 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code), "Reject needs a 5xx code.");
        }

        return Accept with { Action = FilterAction.Reject, Code = code, Enhanced = enhanced, Text = text };
    }

    public static FilterVerdict TempFail(string text) => Accept with { Action = FilterAction.TempFail, Code = 451, Enhanced = "4.7.1", Text = text };

    /// <summary>Returns a copy that also adds <paramref name="headers"/>.</summary>
    public FilterVerdict WithHeaders(params IReadOnlyList<KeyValuePair<string, string>> headers) => this with { Headers = [.. Headers, .. headers] };
}

/// <summary>A decision for one envelope recipient (see <see cref="FilterVerdict.PerRecipient"/>).</summary>
public sealed record RecipientVerdict(string Recipient, FilterAction Action, string? Folder = null);

/// <summary>The default filter: accepts everything unchanged.</summary>
public sealed class PassThroughFilter : IMessageFilter
{
    public static readonly PassThroughFilter Instance = new();

    public ValueTask<FilterVerdict> OnConnectAsync(FilterContext context, CancellationToken ct) => new(FilterVerdict.Accept);

    public ValueTask<FilterVerdict> OnMailFromAsync(FilterContext context, CancellationToken ct) => new(FilterVerdict.Accept);

    public ValueTask<FilterVerdict> OnRcptToAsync(FilterContext context, string recipient, CancellationToken ct) => new(FilterVerdict.Accept);

    public ValueTask<FilterVerdict> OnEndOfDataAsync(FilterContext context, ReadOnlyMemory<byte> message, CancellationToken ct) => new(FilterVerdict.Accept);
}
