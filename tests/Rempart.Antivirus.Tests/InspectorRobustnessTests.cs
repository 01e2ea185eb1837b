using Rempart.Common.Configuration;

namespace Rempart.Antivirus.Tests;

/// <summary>Malformed content must give a verdict, never an exception or a hang (house style, habit 14).</summary>
public sealed class InspectorRobustnessTests
{
    private static readonly AttachmentInspector Inspector = new(new AntivirusOptions());

    private static byte[] SampleZip() => TestData.Zip(
        ("a.txt", "hello hello hello"u8.ToArray()),
        ("inner.zip", TestData.Zip(("b.pdf", "%PDF-1.4\n"u8.ToArray()), ("c.doc", TestData.Ole2("WordDocument", "_VBA_PROJECT")))),
        ("d.bin", new byte[3000]));

    [Fact]
    public void Every_truncation_of_a_nested_zip_gets_a_verdict()
    {
        var zip = SampleZip();
        for (var length = 0; length <= zip.Length; length += Math.Max(1, zip.Length / 400))
        {
            var result = Inspector.Inspect(TestData.Attached("t.zip", zip[..length]));
            Assert.NotNull(result.Attachments);
        }
    }

    [Fact]
    public void Flipped_bytes_in_a_nested_zip_get_a_verdict()
    {
        var random = new Random(1234);
        var zip = SampleZip();
        for (var i = 0; i < 500; i++)
        {
            var copy = (byte[])zip.Clone();
            for (var j = 0; j < 4; j++)
            {
                copy[random.Next(copy.Length)] = (byte)random.Next(256);
            }

            var result = Inspector.Inspect(TestData.Attached("f.zip", copy));
            Assert.NotNull(result.Attachments);
        }
    }

    [Fact]
    public void Random_bytes_after_each_magic_get_a_verdict()
    {
        var random = new Random(99);
        byte[][] magics =
        [
            "PK\x03\x04"u8.ToArray(), "PK\x05\x06"u8.ToArray(), [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1],
            "MZ"u8.ToArray(), "#!"u8.ToArray(), [0xCA, 0xFE, 0xBA, 0xBE], "%PDF-"u8.ToArray(),
        ];
        foreach (var magic in magics)
        {
            for (var i = 0; i < 50; i++)
            {
                var data = new byte[magic.Length + random.Next(0, 200)];
                random.NextBytes(data);
                magic.CopyTo(data, 0);
                var result = Inspector.Inspect(TestData.Attached("r.bin", data));
                Assert.NotNull(result.Attachments);
            }
        }
    }

    [Fact]
    public void Empty_and_missing_content_are_handled()
    {
        var result = Inspector.Inspect(TestData.Attached("empty.txt", []));
        Assert.Equal(PolicyVerdict.Allow, result.Verdict);
        Assert.Equal("empty", result.Attachments.Single(a => a.FileName == "empty.txt").DetectedType);

        var noBody = new MimeKit.MimeMessage();
        Assert.Equal(PolicyVerdict.Allow, Inspector.Inspect(noBody).Verdict);
    }
}
