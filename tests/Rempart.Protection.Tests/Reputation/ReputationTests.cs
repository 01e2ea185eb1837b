using System.Net;
using Rempart.Common.Configuration;
using Rempart.Protection.Reputation;

namespace Rempart.Protection.Tests.Reputation;

public sealed class ReputationTests
{
    private static readonly ConnectionFilterOptions Options = new() { ReputationMinimumVolume = 10 };

    [Fact]
    public void A_new_sender_is_neutral_until_enough_was_seen()
    {
        var tracker = new ReputationTracker(Options, new ManualTime(DateTimeOffset.UnixEpoch));
        var ip = IPAddress.Parse("192.0.2.10");
        for (var i = 0; i < 9; i++)
        {
            tracker.Record(ip, ReputationSignal.Spam);
        }

        Assert.Equal(0, tracker.Get(ip).Score);
        tracker.Record(ip, ReputationSignal.Spam);
        Assert.Equal(1, tracker.Get(ip).Score, 3);
    }

    [Fact]
    public void Mostly_clean_senders_keep_a_good_score_and_spammers_a_bad_one()
    {
        var tracker = new ReputationTracker(Options, new ManualTime(DateTimeOffset.UnixEpoch));
        var good = IPAddress.Parse("192.0.2.1");
        var bad = IPAddress.Parse("198.51.100.7");
        for (var i = 0; i < 40; i++)
        {
            tracker.Record(good, i % 20 == 0 ? ReputationSignal.Spam : ReputationSignal.Ham);
            tracker.Record(bad, i % 10 == 0 ? ReputationSignal.Ham : ReputationSignal.Spam);
        }

        Assert.InRange(tracker.Get(good).Score, 0, 0.1);
        Assert.InRange(tracker.Get(bad).Score, 0.85, 1);
    }

    [Fact]
    public void A_neighbour_in_the_same_network_inherits_its_record()
    {
        var tracker = new ReputationTracker(Options, new ManualTime(DateTimeOffset.UnixEpoch));
        for (var i = 0; i < 20; i++)
        {
            tracker.Record(IPAddress.Parse("203.0.113." + (i + 1)), ReputationSignal.Malware);
        }

        var neighbour = tracker.Get(IPAddress.Parse("203.0.113.200"));
        Assert.Equal("network", neighbour.Scope);
        Assert.True(neighbour.Score > 0.9);
        Assert.Equal(0, tracker.Get(IPAddress.Parse("203.0.114.1")).Score);
    }

    [Fact]
    public void IPv6_senders_are_grouped_by_their_64()
    {
        var tracker = new ReputationTracker(Options, new ManualTime(DateTimeOffset.UnixEpoch));
        for (var i = 0; i < 12; i++)
        {
            tracker.Record(IPAddress.Parse("2001:db8:1:2::" + (i + 1).ToString("x")), ReputationSignal.Spam);
        }

        Assert.True(tracker.Get(IPAddress.Parse("2001:db8:1:2:ffff::1")).Score > 0.9);
        Assert.Equal(0, tracker.Get(IPAddress.Parse("2001:db8:1:3::1")).Score);
    }

    [Fact]
    public void The_record_fades_with_a_one_day_half_life()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch);
        var tracker = new ReputationTracker(Options, time);
        var ip = IPAddress.Parse("192.0.2.99");
        for (var i = 0; i < 16; i++)
        {
            tracker.Record(ip, ReputationSignal.Spam);
        }

        Assert.Equal(16, tracker.Get(ip).Volume, 3);
        time.Advance(TimeSpan.FromDays(2));
        Assert.Equal(4, tracker.Get(ip).Volume, 3);

        // Below the minimum volume again: judged neutral, and new clean mail outweighs the old record.
        Assert.Equal(0, tracker.Get(ip).Score);
        for (var i = 0; i < 30; i++)
        {
            tracker.Record(ip, ReputationSignal.Ham);
        }

        Assert.True(tracker.Get(ip).Score < 0.2);
    }

    [Fact]
    public void Loopback_is_never_scored()
    {
        var tracker = new ReputationTracker(Options);
        for (var i = 0; i < 50; i++)
        {
            tracker.Record(IPAddress.Loopback, ReputationSignal.Spam);
            tracker.Record(IPAddress.IPv6Loopback, ReputationSignal.Spam);
        }

        Assert.Equal(0, tracker.Get(IPAddress.Loopback).Score);
        Assert.Equal(0, tracker.Count);
    }

    [Fact]
    public void The_table_stays_bounded()
    {
        var tracker = new ReputationTracker(Options, null, maxEntries: 1000);
        for (var i = 0; i < 3000; i++)
        {
            tracker.Record(new IPAddress([10, (byte)(i >> 8), (byte)i, 1]), ReputationSignal.Ham);
        }

        Assert.InRange(tracker.Count, 1, 1001);
    }

    [Theory]
    [InlineData("192.0.2.0/24", "192.0.2.77", true)]
    [InlineData("192.0.2.0/24", "192.0.3.1", false)]
    [InlineData("192.0.2.5", "192.0.2.5", true)]
    [InlineData("192.0.2.0/24", "::ffff:192.0.2.9", true)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    public void Address_lists_match_hosts_and_ranges(string entry, string address, bool expected) =>
        Assert.Equal(expected, new IpNetworkList([entry]).Contains(IPAddress.Parse(address)));

    [Fact]
    public void Rate_limits_count_over_a_sliding_window()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch);
        var limiter = new RateLimiter(TimeSpan.FromMinutes(1), time);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(limiter.TryAcquire("ip:1", 5));
        }

        Assert.False(limiter.TryAcquire("ip:1", 5));
        Assert.True(limiter.TryAcquire("ip:2", 5));

        // Half a window later the previous window still counts for half.
        time.Advance(TimeSpan.FromSeconds(90));
        Assert.True(limiter.TryAcquire("ip:1", 5));
        Assert.True(limiter.TryAcquire("ip:1", 5));
        Assert.False(limiter.TryAcquire("ip:1", 5));
        time.Advance(TimeSpan.FromMinutes(3));
        Assert.True(limiter.TryAcquire("ip:1", 5));
        Assert.True(limiter.TryAcquire("anything", 0));
    }

    [Theory]
    [InlineData("192.0.2.1", "1.2.0.192")]
    [InlineData("2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2")]
    public void Dnsbl_queries_use_reversed_octets_and_nibbles(string address, string expected) =>
        Assert.Equal(expected, DnsblChecker.Reverse(IPAddress.Parse(address)));
}
