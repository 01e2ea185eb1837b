using Rempart.Common.Configuration;
using Rempart.Monitoring.Alerting;

namespace Rempart.Monitoring.Tests.Alerting;

public sealed class AlertingOptionsTests
{
    private static AlertingOptions Valid() => new()
    {
        Channels =
        [
            new AlertChannelOptions { Name = "hook", Type = "webhook", Url = "http://127.0.0.1:9/hook" },
            new AlertChannelOptions { Name = "sms", Type = "sms", Preset = "twilio", AccountSid = "AC1", AuthToken = "x", From = "+1", To = ["+2"] },
            new AlertChannelOptions { Name = "mail", Type = "email", To = ["ops@example.test"] },
        ],
        Tiers = [new AlertTierOptions { Channels = ["hook", "mail"] }, new AlertTierOptions { After = TimeSpan.FromMinutes(15), Channels = ["sms"] }],
    };

    [Fact]
    public void ValidConfigurationHasNoErrors() => Assert.Empty(Valid().Validate("monitoring.alerting"));

    [Fact]
    public void DisabledIsNotChecked()
    {
        var o = Valid();
        o.Enabled = false;
        o.Channels[0].Type = "pager";
        Assert.Empty(o.Validate("monitoring.alerting"));
    }

    [Theory]
    [InlineData("type", "'monitoring.alerting.channels[0].type': 'pager' is not a channel type")]
    [InlineData("tier", "'monitoring.alerting.tiers[1].channels': no channel is named 'pager'")]
    [InlineData("url", "'monitoring.alerting.channels[0].url': required for a webhook channel")]
    [InlineData("badurl", "'monitoring.alerting.channels[0].url': 'ftp://x' is not an http(s) URL")]
    [InlineData("to", "'monitoring.alerting.channels[2].to': a email channel needs at least one recipient")]
    [InlineData("sid", "'monitoring.alerting.channels[1].accountSid': required by the twilio preset")]
    [InlineData("token", "'monitoring.alerting.channels[1].authToken': required by the twilio preset")]
    [InlineData("preset", "'monitoring.alerting.channels[1].preset': 'nexmo' is unknown")]
    [InlineData("dup", "'monitoring.alerting.channels[1].name': 'hook' is used by another channel")]
    [InlineData("repeat", "'monitoring.alerting.repeatInterval': must be at least 00:01:00")]
    [InlineData("order", "'monitoring.alerting.tiers[1].after': must be at least the previous tier's after")]
    [InlineData("public", "'monitoring.alerting.publicUrl': 'mail.example.com' is not an http(s) URL")]
    public void ErrorsNameTheBadKey(string breakIt, string expected)
    {
        var o = Valid();
        switch (breakIt)
        {
            case "type": o.Channels[0].Type = "pager"; break;
            case "tier": o.Tiers[1].Channels = ["pager"]; break;
            case "url": o.Channels[0].Url = null; break;
            case "badurl": o.Channels[0].Url = "ftp://x"; break;
            case "to": o.Channels[2].To = []; break;
            case "sid": o.Channels[1].AccountSid = null; break;
            case "token": o.Channels[1].AuthToken = ""; break;
            case "preset": o.Channels[1].Preset = "nexmo"; break;
            case "dup": o.Channels[1].Name = "hook"; o.Tiers[1].Channels = ["hook"]; break;
            case "repeat": o.RepeatInterval = TimeSpan.FromSeconds(5); break;
            case "order": o.Tiers[0].After = TimeSpan.FromHours(1); break;
            case "public": o.PublicUrl = "mail.example.com"; break;
            default: throw new ArgumentOutOfRangeException(nameof(breakIt));
        }

        var errors = o.Validate("monitoring.alerting").ToList();
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void SecretsAreNotInValidationErrors()
    {
        var o = Valid();
        o.Channels[1].AccountSid = null;
        o.Channels[1].AuthToken = "s3cr3t-token";
        Assert.DoesNotContain(o.Validate("a"), e => e.Contains("s3cr3t", StringComparison.Ordinal));
    }

    [Fact]
    public void TemplateRenderingEscapesPerContentType()
    {
        var values = new Dictionary<string, string> { ["to"] = "+1 555", ["message"] = "a \"b\" & c\n" };
        Assert.Equal("{\"to\":\"+1 555\",\"m\":\"a \\\"b\\\" & c\\n\"}",
            AlertFormat.Render("{\"to\":\"{{to}}\",\"m\":\"{{message}}\"}", values, AlertFormat.EscaperFor("application/json")));
        Assert.Equal("to=%2B1%20555&m=a%20%22b%22%20%26%20c%0A",
            AlertFormat.Render("to={{to}}&m={{ message }}", values, AlertFormat.EscaperFor("application/x-www-form-urlencoded")));
        Assert.Equal("{{unknown}} {{to", AlertFormat.Render("{{unknown}} {{to", values, v => v));
    }

    [Fact]
    public void ShortTextFitsOneSmsAndKeepsTheAckLink()
    {
        var at = new DateTimeOffset(2026, 11, 28, 3, 0, 0, TimeSpan.Zero);
        var ack = "https://mx1.example.com/alerts/ack?key=mx1%2Fstore%2Fblobs&t=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        var alert = new NotifiedAlert("mx1/store/blobs", "mx1", "store", "blobs", Rempart.Monitoring.Health.HealthState.Unhealthy, "firing", new string('x', 400), at, null, ack);
        var text = AlertFormat.ShortText(new AlertNotification("firing", "mx1", "g", null, [alert]));
        Assert.StartsWith("[FIRING] mx1/store/blobs: xxx", text, StringComparison.Ordinal);
        Assert.EndsWith("… ack: " + ack, text, StringComparison.Ordinal);
        Assert.True(text.Length <= AlertFormat.SmsLength, text.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var two = AlertFormat.ShortText(new AlertNotification("resolved", "mx1", "g", null,
            [alert with { Status = "resolved", AckUrl = null }, alert with { Key = "mx1/store/sqlite", Status = "resolved" }]));
        Assert.Equal("[RESOLVED:2] mx1/store/blobs +1: back to Healthy", two);
    }

    [Theory]
    [InlineData("mx1/store/*", "mx1/store/blobs", true)]
    [InlineData("mx1/store/*", "mx1/service/imap", false)]
    [InlineData("*/imap", "mx1/service/imap", true)]
    [InlineData("mx1/service/imap", "mx1/service/imap", true)]
    [InlineData("mx1/service/ima?", "mx1/service/imap", true)]
    [InlineData("mx1/service/imap", "mx1/service/imaps", false)]
    public void GlobMatchesKeys(string pattern, string key, bool expected) => Assert.Equal(expected, Glob.IsMatch(pattern, key));
}
