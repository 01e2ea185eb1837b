using System.Text;

namespace Rempart.Antivirus.Tests;

public sealed class ClamdProtocolTests
{
    [Theory]
    [InlineData("stream: OK", ClamdScanStatus.Clean, null)]
    [InlineData("stream: Win.Test.EICAR_HDB-1 FOUND", ClamdScanStatus.Infected, "Win.Test.EICAR_HDB-1")]
    [InlineData("stream: Rempart.Test.Marker.UNOFFICIAL FOUND", ClamdScanStatus.Infected, "Rempart.Test.Marker.UNOFFICIAL")]
    [InlineData("INSTREAM size limit exceeded. ERROR", ClamdScanStatus.SizeLimitExceeded, null)]
    [InlineData("stream: Can't allocate memory ERROR", ClamdScanStatus.Error, null)]
    [InlineData("UNKNOWN COMMAND", ClamdScanStatus.Error, null)]
    [InlineData("stream:  FOUND", ClamdScanStatus.Error, null)]
    [InlineData("", ClamdScanStatus.Error, null)]
    public void Scan_replies_are_read(string reply, ClamdScanStatus status, string? signature)
    {
        var result = ClamdProtocol.ParseScanReply(Encoding.ASCII.GetBytes(reply));
        Assert.Equal(status, result.Status);
        Assert.Equal(signature, result.SignatureName);
        Assert.Equal(status is ClamdScanStatus.Error or ClamdScanStatus.SizeLimitExceeded, result.Message is not null);
    }

    [Fact]
    public void Version_with_database_gives_the_signature_date()
    {
        var (engine, db, date) = ClamdClient.ParseVersion("ClamAV 1.4.6/27000/Thu Nov 27 09:32:03 2025");
        Assert.Equal("ClamAV 1.4.6", engine);
        Assert.Equal(27000, db);
        Assert.Equal(new DateTimeOffset(2025, 11, 27, 9, 32, 3, TimeSpan.Zero), date);
    }

    [Fact]
    public void Version_with_space_padded_day_is_read()
    {
        var (_, _, date) = ClamdClient.ParseVersion("ClamAV 1.0.7/27460/Sat Nov  7 08:17:02 2026\n");
        Assert.Equal(new DateTimeOffset(2026, 11, 7, 8, 17, 2, TimeSpan.Zero), date);
    }

    [Theory]
    [InlineData("ClamAV 1.4.6")]
    [InlineData("ClamAV 1.4.6/27000/not a date")]
    public void Version_without_a_readable_date_has_none(string reply)
    {
        var (engine, _, date) = ClamdClient.ParseVersion(reply);
        Assert.Equal("ClamAV 1.4.6", engine);
        Assert.Null(date);
    }

    [Fact]
    public void Reply_end_is_the_NUL_byte()
    {
        Assert.Equal(-1, ClamdProtocol.FindReplyEnd("stream: OK"u8));
        Assert.Equal(10, ClamdProtocol.FindReplyEnd("stream: OK\0"u8));
    }

    [Fact]
    public void Chunk_length_is_big_endian()
    {
        var b = new byte[4];
        ClamdProtocol.WriteChunkLength(b, 0x010203);
        Assert.Equal(new byte[] { 0, 1, 2, 3 }, b);
    }

    [Theory]
    [InlineData("unix:relative")]
    [InlineData("tcp:127.0.0.1")]
    [InlineData("tcp:127.0.0.1:0")]
    [InlineData("tcp:127.0.0.1:70000")]
    [InlineData("http://clamd:3310")]
    public void Bad_endpoints_are_refused(string endpoint)
    {
        Assert.Throws<ArgumentException>(() => new ClamdClient(endpoint, TimeSpan.FromSeconds(1)));
    }
}
