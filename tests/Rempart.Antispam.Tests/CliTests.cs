using System.Text;

namespace Rempart.Antispam.Tests;

/// <summary><c>rempart spam train|status|test</c> run in-process against a temp data folder.</summary>
public class CliTests
{
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await Rempart.Cli.Program.RunAsync(args, new StringReader(""), stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Train_from_a_folder_and_an_mbox_then_status_and_test_show_the_model_at_work()
    {
        using var data = new TempFolder();
        var mbox = Path.Combine(data.Path, "ham.mbox");
        var sb = new StringBuilder();
        foreach (var file in Directory.GetFiles(Fixtures.HamFolder).Order(StringComparer.Ordinal))
        {
            sb.Append("From carol@partner.example Tue Nov  3 09:00:00 2026\n").Append(File.ReadAllText(file).Replace("\r\n", "\n", StringComparison.Ordinal)).Append('\n');
        }

        await File.WriteAllTextAsync(mbox, sb.ToString());

        var train = await RunAsync("spam", "train", "--data", data.Path, "--spam", Fixtures.SpamFolder, "--ham", mbox);
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("Learned 30 spam and 30 ham", train.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(data.Path, "spam", "global.bayes")));
        Assert.True(File.Exists(Path.Combine(data.Path, "spam", "global.lr")));

        var again = await RunAsync("spam", "train", "--data", data.Path, "--spam", Fixtures.SpamFolder);
        Assert.Contains("Learned 0 spam and 0 ham (30 skipped", again.Out, StringComparison.Ordinal);

        var status = await RunAsync("spam", "status", "--data", data.Path);
        Assert.Equal(0, status.Code);
        Assert.Matches(@"Spam learned\s+30", status.Out);
        Assert.Matches(@"Ham learned\s+30", status.Out);
        Assert.Contains("active", status.Out, StringComparison.Ordinal);
        Assert.Matches(@"Logistic coefficients\s+[1-9]", status.Out);

        var spam = await RunAsync("spam", "test", "--data", data.Path, Fixtures.Score("phish-mismatch.eml"));
        Assert.True(spam.Code == 0, spam.Err);
        Assert.Matches(@"SCL\s+9", spam.Out);
        Assert.Contains("LINK_HOST_MISMATCH", spam.Out, StringComparison.Ordinal);
        Assert.Contains("X-Rempart-Spam: scl=9;", spam.Out, StringComparison.Ordinal);

        var ham = await RunAsync("spam", "test", "--data", data.Path, Fixtures.Score("ham-normal.eml"));
        Assert.Matches(@"SCL\s+0", ham.Out);
        Assert.Matches(@"Action\s+deliver", ham.Out);
    }

    [Fact]
    public async Task Gtube_tests_as_scl_9_without_any_model()
    {
        using var data = new TempFolder();
        var r = await RunAsync("spam", "test", "--data", data.Path, Fixtures.Score("gtube.eml"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Matches(@"SCL\s+9", r.Out);
        Assert.Contains("GTUBE", r.Out, StringComparison.Ordinal);
        Assert.Contains("n/a", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_arguments_get_a_clear_error_and_exit_2()
    {
        using var data = new TempFolder();
        var nothing = await RunAsync("spam", "train", "--data", data.Path);
        Assert.Equal(2, nothing.Code);
        Assert.Contains("nothing to learn", nothing.Err, StringComparison.Ordinal);

        var missing = await RunAsync("spam", "train", "--data", data.Path, "--spam", Path.Combine(data.Path, "nope"));
        Assert.Equal(2, missing.Code);
        Assert.Contains("no such file or folder", missing.Err, StringComparison.Ordinal);

        var noFile = await RunAsync("spam", "test", "--data", data.Path, Path.Combine(data.Path, "nope.eml"));
        Assert.Equal(2, noFile.Code);

        var noData = await RunAsync("spam", "status", "--data", Path.Combine(data.Path, "missing"));
        Assert.Equal(1, noData.Code);
        Assert.Contains("--data", noData.Err, StringComparison.Ordinal);
    }
}
