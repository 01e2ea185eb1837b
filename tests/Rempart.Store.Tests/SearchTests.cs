namespace Rempart.Store.Tests;

public sealed class SearchTests
{
    [Fact]
    public async Task Body_search_is_substring_and_case_insensitive()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "Invoice", "Please find the quarterly REPORT attached.");
        await t.AppendAsync(inbox.Id, "Lunch", "Shall we meet at noon? Bring the reporter.");
        await t.AppendAsync(inbox.Id, "Other", "Nothing relevant here.");

        Assert.Equal([1L, 2L], await t.Store.Messages.SearchTextAsync(inbox.Id, "report", TextSearchScope.Body));
        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inbox.Id, "Quarterly Rep", TextSearchScope.Body));
        Assert.Empty(await t.Store.Messages.SearchTextAsync(inbox.Id, "invoice", TextSearchScope.Body));
        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inbox.Id, "invoice", TextSearchScope.Text));
        Assert.Equal([1L, 2L, 3L], await t.Store.Messages.SearchTextAsync(inbox.Id, "alice@example.org", TextSearchScope.Text));
        Assert.Equal([1L, 2L, 3L], await t.Store.Messages.SearchTextAsync(inbox.Id, "", TextSearchScope.Body));
    }

    [Fact]
    public async Task Short_terms_fall_back_to_a_scan()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "one", "Go to the 5K run");
        await t.AppendAsync(inbox.Id, "two", "nothing");
        await t.AppendAsync(inbox.Id, "three", "100% sure");

        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inbox.Id, "5k", TextSearchScope.Body));
        Assert.Equal([1L, 2L], await t.Store.Messages.SearchTextAsync(inbox.Id, "o", TextSearchScope.Body));
        Assert.Equal([3L], await t.Store.Messages.SearchTextAsync(inbox.Id, "0%", TextSearchScope.Body));
        Assert.Empty(await t.Store.Messages.SearchTextAsync(inbox.Id, "_x", TextSearchScope.Body));
        Assert.Equal([2L], await t.Store.Messages.SearchTextAsync(inbox.Id, "tw", TextSearchScope.Text));
    }

    [Fact]
    public async Task Html_is_indexed_as_text_without_scripts()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var blob = await t.PutAsync(Messages.Html("html", "<html><head><style>.secretstyle{}</style><script>var hiddenscript=1;</script></head><body><p>Visible <b>bold</b> text &amp; more</p></body></html>"));
        await t.Store.Messages.AppendAsync(inbox.Id, blob, [], DateTimeOffset.UtcNow);

        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inbox.Id, "visible bold text & more", TextSearchScope.Body));
        Assert.Empty(await t.Store.Messages.SearchTextAsync(inbox.Id, "hiddenscript", TextSearchScope.Body));
        Assert.Empty(await t.Store.Messages.SearchTextAsync(inbox.Id, "secretstyle", TextSearchScope.Body));
        Assert.Empty(await t.Store.Messages.SearchTextAsync(inbox.Id, "<b>", TextSearchScope.Body));
    }

    [Fact]
    public async Task Search_only_sees_the_mailbox_asked_and_survives_quotes()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var archive = await t.Store.Messages.GetMailboxAsync(a.Id, "Archive");
        await t.AppendAsync(inbox.Id, "x", "say \"hello\" now");
        await t.AppendAsync(archive!.Id, "y", "say \"hello\" now");

        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inbox.Id, "\"hello\"", TextSearchScope.Body));
        Assert.Empty(await t.Store.Messages.SearchTextAsync(inbox.Id, "NEAR(a b) OR *", TextSearchScope.Body));
    }

    [Fact]
    public async Task Deeply_nested_mime_is_bounded()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var sb = new System.Text.StringBuilder("From: x@example.org\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n");
        const int depth = 200;
        for (var i = 0; i < depth; i++)
        {
            sb.Append($"Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n");
        }

        sb.Append("Content-Type: text/plain\r\n\r\ndeepest needle\r\n");
        for (var i = depth - 1; i >= 0; i--)
        {
            sb.Append($"--b{i}--\r\n");
        }

        var blob = await t.PutAsync(System.Text.Encoding.ASCII.GetBytes(sb.ToString()));
        var result = await t.Store.Messages.AppendAsync(inbox.Id, blob, [], DateTimeOffset.UtcNow);
        Assert.Equal(1, result.Uid);
        var meta = await t.Store.Messages.GetMetadataAsync((await t.Store.Messages.ListMessagesAsync(inbox.Id))[0].Id);
        Assert.Equal("bomb", meta!.Subject);
    }
}
