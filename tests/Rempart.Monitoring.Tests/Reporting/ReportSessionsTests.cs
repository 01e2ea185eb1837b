using Microsoft.Extensions.Time.Testing;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Reporting;
using Rempart.Store;

namespace Rempart.Monitoring.Tests.Reporting;

public sealed class ReportSessionsTests
{
    [Fact]
    public void Session_ids_are_256_bit_random_and_unguessable_ids_are_refused()
    {
        var sessions = new ReportSessions(new ReportOptions());
        var a = sessions.Create("admin@example.test");
        var b = sessions.Create("admin@example.test");
        Assert.Equal(64, a.Id.Length);
        Assert.True(a.Id.All(Uri.IsHexDigit));
        Assert.NotEqual(a.Id, b.Id);
        Assert.NotEqual(a.Id, a.CsrfToken);
        Assert.Same(a, sessions.Get(a.Id));
        Assert.Null(sessions.Get(null));
        Assert.Null(sessions.Get(""));
        Assert.Null(sessions.Get(a.Id[..63]));
        Assert.Null(sessions.Get(new string('0', 64)));
        Assert.True(sessions.Remove(a.Id));
        Assert.Null(sessions.Get(a.Id));
    }

    [Fact]
    public void Sessions_expire_when_idle_and_at_their_lifetime()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 4, 0, 0, TimeSpan.Zero));
        var options = new ReportOptions { SessionIdleTimeout = TimeSpan.FromMinutes(30), SessionLifetime = TimeSpan.FromHours(2) };
        var sessions = new ReportSessions(options, time);
        var idle = sessions.Create("a@example.test");
        var busy = sessions.Create("b@example.test");
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromMinutes(20));
            Assert.NotNull(sessions.Get(busy.Id));
        }

        Assert.Null(sessions.Get(idle.Id));
        time.Advance(TimeSpan.FromMinutes(21));
        // Used every 20 minutes, but 2 h 01 after login: the lifetime ends it.
        Assert.Null(sessions.Get(busy.Id));
    }

    [Fact]
    public void The_oldest_session_goes_when_the_cap_is_reached()
    {
        var time = new FakeTimeProvider();
        var sessions = new ReportSessions(new ReportOptions { MaxSessions = 2 }, time);
        var first = sessions.Create("a@example.test");
        time.Advance(TimeSpan.FromSeconds(1));
        var second = sessions.Create("a@example.test");
        time.Advance(TimeSpan.FromSeconds(1));
        var third = sessions.Create("a@example.test");
        Assert.Equal(2, sessions.Count);
        Assert.Null(sessions.Get(first.Id));
        Assert.NotNull(sessions.Get(second.Id));
        Assert.NotNull(sessions.Get(third.Id));
    }

    [Fact]
    public void Csrf_tokens_must_match_exactly()
    {
        var sessions = new ReportSessions(new ReportOptions());
        var s = sessions.Create("a@example.test");
        Assert.True(ReportSessions.CheckCsrf(s, s.CsrfToken));
        Assert.False(ReportSessions.CheckCsrf(s, null));
        Assert.False(ReportSessions.CheckCsrf(s, ""));
        Assert.False(ReportSessions.CheckCsrf(s, s.CsrfToken.ToUpperInvariant()));
        Assert.False(ReportSessions.TokensEqual(null, null));
        Assert.False(ReportSessions.TokensEqual("abc", "abcd"));
    }

    [Fact]
    public void Top_talkers_count_each_message_once_per_sender_and_recipient()
    {
        var now = new DateTimeOffset(2026, 11, 28, 4, 0, 0, TimeSpan.Zero);
        TraceEvent E(string id, TraceEventKind kind, string from, string? to) => new(now, id, kind, from, to, null, "127.0.0.1", "");
        var events = new[]
        {
            E("q1", TraceEventKind.Queued, "Alice@a.test", "bob@b.test"),
            E("q1", TraceEventKind.Deferred, "alice@a.test", "bob@b.test"),
            E("q1", TraceEventKind.Relayed, "alice@a.test", "bob@b.test"),
            E("q1", TraceEventKind.Delivered, "alice@a.test", "carol@a.test"),
            E("q2", TraceEventKind.Delivered, "alice@a.test", "carol@a.test"),
            E("q3", TraceEventKind.Delivered, "", "carol@a.test"),
        };
        var top = TopTalkers.Count(events, now, TimeSpan.FromHours(1), 10, truncated: false);
        Assert.Equal([new TopEntry("alice@a.test", 2), new TopEntry("<>", 1)], top.Senders);
        Assert.Equal([new TopEntry("carol@a.test", 3), new TopEntry("bob@b.test", 1)], top.Recipients);
        Assert.Single(TopTalkers.Count(events, now, TimeSpan.FromHours(1), 1, false).Recipients);
    }
}

public sealed class ReportLoginPolicyTests
{
    [Theory]
    [InlineData(true, "203.0.113.7", false, true)]
    [InlineData(false, "127.0.0.1", false, true)]
    [InlineData(false, "::1", false, true)]
    [InlineData(false, "::ffff:127.0.0.1", false, true)]
    [InlineData(false, "203.0.113.7", false, false)]
    [InlineData(false, "10.0.0.2", false, false)]
    [InlineData(false, "2001:db8::1", false, false)]
    [InlineData(false, "203.0.113.7", true, true)]
    public void A_password_is_taken_over_tls_or_from_loopback_only(bool https, string remote, bool allowPlain, bool allowed) =>
        Assert.Equal(allowed, ReportLoginPolicy.PasswordAllowed(https, System.Net.IPAddress.Parse(remote), new ReportOptions { AllowPlainHttpLogin = allowPlain }));

    [Fact]
    public void An_unknown_remote_over_plain_http_is_refused() =>
        Assert.False(ReportLoginPolicy.PasswordAllowed(false, null, new ReportOptions()));
}
