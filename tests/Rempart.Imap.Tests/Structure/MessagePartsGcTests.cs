using System.Text;
using Rempart.Imap.Messages;
using Rempart.TestSupport;

namespace Rempart.Imap.Tests.Structure;

/// <summary>A FETCH disposes each message's parse once its sections are written, so none waits for the finalizer.</summary>
[Collection(nameof(GcMeasurement))]
public sealed class MessagePartsGcTests
{
    private const int Fetches = 8;

    private static readonly byte[] Message = Encoding.ASCII.GetBytes(
        "From: a@example.org\r\nTo: b@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
        + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        + GcProbe.LargeBody("first part, a line of text")
        + "--b\r\nContent-Type: text/plain\r\n\r\n" + GcProbe.LargeBody("second part, a line of text") + "--b--\r\n");

    [Fact]
    public void Disposed_parts_leave_nothing_alive_for_the_finalizer()
    {
        Assert.True(MessageParts.TryParseSection("2", out var section));
        var undisposed = GcProbe.PromotedByUndisposedParses(Message, Fetches);
        var fetched = GcProbe.PromotedBy(() =>
        {
            for (var i = 0; i < Fetches; i++)
            {
                using var parts = MessageParts.Parse(Message);
                Assert.NotNull(parts.Get(section));
            }
        });

        Assert.True(undisposed > GcProbe.ControlFloor, $"undisposed parses promoted only {undisposed} bytes: the measurement cannot see them");
        Assert.True(fetched < undisposed / 2, $"{Fetches} disposed parts promoted {fetched} bytes, half or more of what {Fetches} undisposed parses keep ({undisposed})");
    }
}
