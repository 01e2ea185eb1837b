using System.Text;
using Rempart.Protection.Pipeline;

namespace Rempart.Protection.Tests.Pipeline;

public sealed class HeaderSanitizerTests
{
    [Fact]
    public void Forged_results_for_our_host_go_and_everything_else_stays_byte_for_byte()
    {
        var message = "Received: from a\r\n\tby b; Thu, 1 Jan 2026 00:00:00 +0000\r\n" +
            "Authentication-Results: mail.example.test;\r\n\tspf=pass smtp.mailfrom=x@evil.test\r\n" +
            "Authentication-Results: other.example; dkim=pass\r\n" +
            "X-Rempart-Spam: scl=0\r\n" +
            "Subject: hi\r\n\r\n" +
            "Authentication-Results: mail.example.test; body text is not a header\r\n";
        var cleaned = Encoding.UTF8.GetString(HeaderSanitizer.RemoveForged(Encoding.UTF8.GetBytes(message), "MAIL.example.test").Span);
        Assert.Equal(
            "Received: from a\r\n\tby b; Thu, 1 Jan 2026 00:00:00 +0000\r\n" +
            "Authentication-Results: other.example; dkim=pass\r\n" +
            "Subject: hi\r\n\r\n" +
            "Authentication-Results: mail.example.test; body text is not a header\r\n",
            cleaned);
    }

    [Fact]
    public void A_clean_message_is_returned_as_the_same_memory()
    {
        var bytes = Encoding.UTF8.GetBytes("Subject: x\r\nAuthentication-Results: elsewhere.test; none\r\n\r\nbody\r\n");
        var memory = new ReadOnlyMemory<byte>(bytes);
        Assert.True(HeaderSanitizer.RemoveForged(memory, "mail.example.test").Equals(memory));
    }

    [Theory]
    [InlineData("")]
    [InlineData("no header at all")]
    [InlineData("\r\n\r\n")]
    [InlineData("X-Rempart-Spam: forged")]
    [InlineData("Authentication-Results:")]
    [InlineData("Authentication-Results: (comment) mail.example.test; spf=pass\n\nbody")]
    public void Odd_inputs_do_not_throw(string message)
    {
        var result = HeaderSanitizer.RemoveForged(Encoding.UTF8.GetBytes(message), "mail.example.test");
        Assert.True(result.Length <= message.Length);
        Assert.DoesNotContain("X-Rempart-Spam", Encoding.UTF8.GetString(result.Span), StringComparison.Ordinal);
    }
}
