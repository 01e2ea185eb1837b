using System.Text;
using MimeKit;
using Rempart.Imap.Messages;

namespace Rempart.Imap.Tests.Structure;

public class SearchHeaderCacheTests
{
    private static SearchHeaders Headers(string text)
    {
        using var ms = new MemoryStream(Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n") + "\r\n"));
        return SearchHeaders.From(HeaderList.Load(ms));
    }

    [Fact]
    public void Fields_keep_every_occurrence_with_decoded_and_raw_values()
    {
        var h = Headers("""
            Subject: =?utf-8?q?caf=C3=A9?= time
            Received: one
            Received: two
             folded
            """);

        Assert.Equal("café time", h[HeaderId.Subject]);
        Assert.Contains("=?utf-8?q?caf=C3=A9?=", h.Fields[0].Raw, StringComparison.Ordinal);
        Assert.Equal(["one", "two folded"], h.Fields.Where(f => f.Id == HeaderId.Received).Select(f => f.Value.Trim()));
        Assert.Null(h[HeaderId.From]);
    }

    [Fact]
    public void The_cache_is_bounded_and_keeps_entries_still_in_use()
    {
        var one = Headers("Subject: " + new string('a', 100) + "\n");
        var cache = new SearchHeaderCache(maxChars: one.Chars * 8);

        cache.Add("h0", one);
        for (var i = 1; i < 50; i++)
        {
            cache.Add("h" + i, one);
            Assert.True(cache.TryGet("h0", out _), $"h0 (read after every add) was dropped at {i}");
        }

        // At most two generations of maxChars / 2 each.
        Assert.InRange(cache.Count, 1, 8);
        Assert.False(cache.TryGet("h1", out _));
        Assert.True(cache.TryGet("h49", out var last));
        Assert.Same(one, last);
    }

    [Fact]
    public void A_header_block_too_big_for_the_cache_is_not_kept()
    {
        var big = Headers("Subject: " + new string('b', 1000) + "\n");
        var cache = new SearchHeaderCache(maxChars: big.Chars * 4);
        cache.Add("big", big);
        Assert.False(cache.TryGet("big", out _));
    }
}
