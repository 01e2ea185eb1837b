using System.Buffers.Binary;
using System.Text;
using MimeKit;
using MimeKit.Tnef;
using Rempart.Common.Configuration;

namespace Rempart.Antivirus.Tests;

/// <summary>Outlook's winmail.dat (TNEF, [MS-OXTNEF]) hides attachments from a plain MIME walk.</summary>
public sealed class TnefTests
{
    /// <summary>A minimal TNEF stream with one attachment: render data starts it, title names it, data holds it.</summary>
    private static byte[] Tnef(string fileName, byte[] content)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, 0x223E9F78);
        ms.Write(buffer);
        ms.Write([0x01, 0x00]);
        Attribute(ms, 1, 0x00089006, [0x00, 0x00, 0x01, 0x00]);
        Attribute(ms, 1, 0x00069007, [0xE4, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        Attribute(ms, 2, 0x00069002, [1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        Attribute(ms, 2, 0x00018010, Encoding.ASCII.GetBytes(fileName + "\0"));
        Attribute(ms, 2, 0x0006800F, content);
        return ms.ToArray();
    }

    private static void Attribute(Stream s, byte level, uint tag, byte[] data)
    {
        var header = new byte[9];
        header[0] = level;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(1), tag);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(5), (uint)data.Length);
        s.Write(header);
        s.Write(data);
        var checksum = (ushort)data.Sum(b => b);
        s.Write([(byte)checksum, (byte)(checksum >> 8)]);
    }

    [Fact]
    public void Executable_inside_winmail_dat_is_blocked()
    {
        var tnef = new TnefPart { Content = new MimeContent(new MemoryStream(Tnef("report.txt", TestData.PeExecutable()))), FileName = "winmail.dat" };
        var message = TestData.Message();
        message.Body = new Multipart("mixed") { new TextPart("plain") { Text = "See attached." }, tnef };

        // Round-trip through bytes, as the pipeline sees it.
        var parsed = TestData.Parse(TestData.Raw(message));
        var result = new AttachmentInspector(new AntivirusOptions()).Inspect(parsed);
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        var exe = result.Attachments.Single(a => a.FileName == "report.txt");
        Assert.Equal("exe", exe.DetectedType);
        Assert.Equal("winmail.dat", exe.Container);
    }

    [Fact]
    public void Garbage_winmail_dat_is_unscannable_not_a_crash()
    {
        var tnef = new TnefPart { Content = new MimeContent(new MemoryStream("not tnef at all"u8.ToArray())), FileName = "winmail.dat" };
        var message = TestData.Message();
        message.Body = new Multipart("mixed") { new TextPart("plain") { Text = "x" }, tnef };
        var result = new AttachmentInspector(new AntivirusOptions()).Inspect(TestData.Parse(TestData.Raw(message)));
        Assert.Equal(PolicyVerdict.Quarantine, result.Verdict);
        Assert.Contains("unreadable TNEF", result.Reason, StringComparison.Ordinal);
    }
}
