using Rempart.Server.Logging;

namespace Rempart.Server.Tests;

public sealed class ConfigTests
{
    [Fact]
    public void Defaults_are_valid_and_bind_loopback_on_unprivileged_ports()
    {
        var o = ConfigLoader.Load(null);
        Assert.All(o.Listeners.All(), l =>
        {
            Assert.Equal(["127.0.0.1"], l.Options.Addresses);
            Assert.InRange(l.Options.Port, 1024, 65535);
        });
        Assert.Equal([2525, 5587, 5465, 1143, 1993, 1110, 1995, 8080, 8443], o.Listeners.All().Select(l => l.Options.Port));
    }

    [Fact]
    public void An_empty_object_gives_the_defaults_and_keys_are_camel_case()
    {
        var o = ConfigLoader.Parse("{ \"hostName\": \"mail.example.com\", \"listeners\": { \"imap\": { \"port\": 143, \"addresses\": [\"::\"] } } }");
        Assert.Equal("mail.example.com", o.HostName);
        Assert.Equal(143, o.Listeners.Imap.Port);
        Assert.Equal(5587, o.Listeners.Submission.Port);
        Assert.Equal(TimeSpan.FromMinutes(5), o.Listeners.Imap.Limits.IdleTimeout);
    }

    [Fact]
    public void A_listener_block_keeps_its_default_port_unless_it_sets_one()
    {
        var o = ConfigLoader.Parse("{ \"listeners\": { \"imap\": { \"addresses\": [\"::\"] }, \"pop3\": { \"enabled\": false } } }");
        Assert.Equal(1143, o.Listeners.Imap.Port);
        Assert.Equal(["::"], o.Listeners.Imap.Addresses);
        Assert.False(o.Listeners.Pop3.Enabled);
        Assert.Equal(1110, o.Listeners.Pop3.Port);
        Assert.Equal(2525, o.Listeners.Smtp.Port);
    }

    [Theory]
    [InlineData("{ \"hostname2\": \"x\" }", "'hostname2'")]
    [InlineData("{ \"listeners\": { \"smtp\": { \"prot\": 25 } } }", "'listeners.smtp.prot'")]
    [InlineData("{ \"listeners\": { \"smtp\": { \"port\": \"twenty\" } } }", "'listeners.smtp.port'")]
    [InlineData("{ \"listeners\": { \"smtp\": { \"port\": 0 } } }", "'listeners.smtp.port'")]
    [InlineData("{ \"listeners\": { \"smtp\": { \"addresses\": [\"localhost\"] } } }", "'listeners.smtp.addresses'")]
    [InlineData("{ \"listeners\": { \"imap\": { \"port\": 2525 } } }", "already used by listeners.smtp")]
    [InlineData("{ \"listeners\": { \"smtp\": { \"limits\": { \"maxLineLength\": 100 } } } }", "'listeners.smtp.limits.maxLineLength'")]
    [InlineData("{ \"tls\": { \"certificatePath\": \"/x.pem\" } }", "'tls'")]
    [InlineData("{ \"store\": { \"provider\": \"postgresql\" } }", "not available in this version")]
    [InlineData("{ \"auth\": { \"trustedNetworks\": [\"10.0.0.0/33\"] } }", "'auth.trustedNetworks'")]
    [InlineData("{ \"dns\": { \"servers\": [\"resolver\"] } }", "'dns.servers'")]
    [InlineData("{ \"routes\": [ { \"name\": \"r\", \"domains\": [\"*\"], \"tls\": \"maybe\" } ] }", "route \"r\": tls")]
    [InlineData("{ \"routes\": [ { \"name\": \"r\", \"domains\": [\"*\"], \"smartHost\": \"relay\" } ] }", "route \"r\": smartHost")]
    [InlineData("{ \"routes\": [ { \"name\": \"r\", \"domains\": [] } ] }", "route \"r\": domains is empty")]
    [InlineData("{ \"routes\": [ { \"name\": \"r\", \"domains\": [\"*\"], \"smartHost\": \"relay:25\", \"username\": \"u\" } ] }", "username is set without a password")]
    [InlineData("{ \"logging\": { \"format\": \"xml\" } }", "'logging.format'")]
    [InlineData("{ \"queue\": { \"lifetime\": \"forever\" } }", "'queue.lifetime'")]
    [InlineData("[1,2]", "configuration")]
    [InlineData("{ \"hostName\": ", "'hostName'")]
    public void Bad_keys_and_values_are_refused_with_the_key_named(string json, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(json));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("docs/configuration.md", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_errors_are_reported_together()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("{ \"smtp\": { \"maxRecipients\": 0 }, \"queue\": { \"concurrency\": 0 } }"));
        Assert.Contains("smtp.maxRecipients", ex.Message, StringComparison.Ordinal);
        Assert.Contains("queue.concurrency", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_an_error_that_says_what_to_do()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load("/nonexistent/rempart.json"));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Comments_and_trailing_commas_are_allowed()
    {
        var o = ConfigLoader.Parse("{ // comment\n \"hostName\": \"a.example\", }");
        Assert.Equal("a.example", o.HostName);
    }

    [Theory]
    [InlineData("a001 LOGIN alice s3cret", "s3cret")]
    [InlineData("AUTH PLAIN AGFsaWNlAHMzY3JldA==", "AGFsaWNlAHMzY3JldA==")]
    [InlineData("a1 AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldA==", "AGFsaWNlAHMzY3JldA==")]
    [InlineData("PASS hunter2", "hunter2")]
    [InlineData("route password=hunter2 for relay", "hunter2")]
    [InlineData("Authorization: Basic YWxpY2U6czNjcmV0", "YWxpY2U6czNjcmV0")]
    public void The_log_redactor_masks_secrets(string line, string secret)
    {
        var redacted = Redactor.Redact(line);
        Assert.DoesNotContain(secret, redacted, StringComparison.Ordinal);
        Assert.Contains("***", redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MAIL FROM:<alice@example.test> SIZE=1000")]
    [InlineData("Health service/imaps: Unknown -> Healthy: logged in, INBOX selected, 0 messages")]
    public void The_log_redactor_leaves_ordinary_lines_alone(string line) => Assert.Equal(line, Redactor.Redact(line));
}
