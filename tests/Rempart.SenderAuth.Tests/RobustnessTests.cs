using System.Net;
using Rempart.SenderAuth.Dkim;
using Rempart.SenderAuth.Dmarc;
using Rempart.SenderAuth.Spf;

namespace Rempart.SenderAuth.Tests;

/// <summary>Hostile record text gets an error result, never an unexpected exception (bounded random inputs).</summary>
public sealed class RobustnessTests
{
    private const string Alphabet = "v=spf1 DMARC;:/%{}_-+~?.,!aAilrsdpch0123456789 \t\"\\ipxmnoetu";

    [Fact]
    public void Random_record_text_never_throws()
    {
        var random = new Random(7208);
        var context = new SpfMacroContext("a.b+c@x.example.com", "x.example.com", IPAddress.Parse("2001:db8::1"), "h.test");
        for (var i = 0; i < 3000; i++)
        {
            var text = new string(Enumerable.Range(0, random.Next(0, 80)).Select(_ => Alphabet[random.Next(Alphabet.Length)]).ToArray());
            _ = SpfRecord.TryParse(text, out _, out _);
            _ = SpfRecord.TryParse("v=spf1 " + text, out _, out _);
            _ = DmarcRecord.Parse("v=DMARC1; " + text, out _);
            _ = TagList.Parse(text);
            _ = DnsDkimKeyLocator.ParseKeyRecord(text);
            try
            {
                _ = SpfMacro.ExpandDomain(text, context);
            }
            catch (SpfMacroException)
            {
            }
        }
    }

    [Fact]
    public void Absurd_macro_digits_do_not_overflow()
    {
        var context = new SpfMacroContext("a@b.test", "b.test", IPAddress.Parse("192.0.2.1"), "h.test");
        Assert.Equal("b.test", SpfMacro.Expand("%{d99999999999}", context, false));
        Assert.Throws<SpfMacroException>(() => SpfMacro.Expand("%{d0}", context, false));
        Assert.Throws<SpfMacroException>(() => SpfMacro.Expand("%{d", context, false));
        Assert.Throws<SpfMacroException>(() => SpfMacro.Expand("%", context, false));
    }
}
