using System.Text;
using Rempart.Store.Mime;
using Rempart.TestSupport;

namespace Rempart.Store.Tests;

/// <summary>
/// The store's analysis disposes its parses. Left to the finalizer, they were 1,120 parsed messages, 15 MB, in gen1
/// at every collection of the SMTP bench, and those collections' pauses were its slowest replies.
/// </summary>
[Collection(nameof(GcMeasurement))]
public sealed class MessageAnalyzerGcTests
{
    internal static readonly byte[] Message = Encoding.ASCII.GetBytes(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>, carol@example.com\r\nCc: dave@example.net\r\n"
        + "Subject: quarterly figures\r\nMessage-ID: <m1@example.org>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        + "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
        + "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + GcProbe.LargeBody("the figures are attached below.")
        + "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + string.Concat(Enumerable.Repeat("the figures are attached below. ", 60)) + "</p>\r\n--b--\r\n");

    private const int Parses = 8;

    [Fact]
    public void Analyzing_messages_leaves_nothing_alive_for_the_finalizer()
    {
        // The control shows the measurement sees what undisposed parses keep.
        var undisposed = GcProbe.PromotedByUndisposedParses(Message, Parses);
        var analyzed = GcProbe.PromotedBy(() =>
        {
            for (var i = 0; i < Parses; i++)
            {
                _ = MessageAnalyzer.Analyze(Message);
            }
        });

        Assert.True(undisposed > GcProbe.ControlFloor, $"undisposed parses promoted only {undisposed} bytes: the measurement cannot see them");
        Assert.True(analyzed < undisposed / 2, $"{Parses} analyses promoted {analyzed} bytes, half or more of what {Parses} undisposed parses keep ({undisposed})");
    }
}
