using System.Text;
using Rempart.TestSupport;

namespace Rempart.Protection.Tests.Pipeline;

/// <summary>
/// The end-of-data stages share one parse of the message, disposed when the verdict is made: left to the finalizer,
/// every parse outlived a collection, and in the SMTP bench those collections' pauses were the slowest replies.
/// </summary>
[Collection(nameof(GcMeasurement))]
public sealed class EndOfDataGcTests
{
    private const int Messages = 8;

    private static readonly byte[] Message = Encoding.ASCII.GetBytes(
        "From: Carol <carol@outside.test>\r\nTo: alice@example.com\r\nSubject: Lunch on Friday\r\n"
        + "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <lunch@outside.test>\r\nMIME-Version: 1.0\r\n"
        + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + GcProbe.LargeBody("Shall we meet at noon at the usual place?"));

    [Fact]
    public async Task The_verdict_leaves_no_parsed_message_alive_for_the_finalizer()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var undisposed = GcProbe.PromotedByUndisposedParses(Message, Messages);
        var filtered = GcProbe.PromotedBy(() => Task.Run(async () =>
        {
            for (var i = 0; i < Messages; i++)
            {
                var context = PipelineHarness.Context("carol@outside.test", ["alice@example.com"]);
                await h.Filter.OnEndOfDataAsync(context, Message, CancellationToken.None);
            }
        }).GetAwaiter().GetResult());

        Assert.True(undisposed > GcProbe.ControlFloor, $"undisposed parses promoted only {undisposed} bytes: the measurement cannot see them");
        Assert.True(filtered < undisposed / 2, $"{Messages} end-of-data verdicts promoted {filtered} bytes, half or more of what {Messages} undisposed parses keep ({undisposed})");
    }
}
