using System.Net;
using DnsClient;
using DnsClient.Protocol;
using Rempart.Smtp.Outbound;

namespace Rempart.Smtp.Tests;

public class OutboundMxOrderingTests
{
    private static MxRecord Mx(ushort preference, string exchange) =>
        new(new ResourceRecordInfo("dest.test.", ResourceRecordType.MX, QueryClass.IN, 300, 0), preference, DnsString.Parse(exchange));

    [Fact]
    public void Mx_records_are_ordered_by_preference_lowest_first()
    {
        var ordered = MxOrdering.Order([Mx(30, "c.dest.test."), Mx(10, "a.dest.test."), Mx(20, "b.dest.test.")], new Random(1));

        Assert.NotNull(ordered);
        Assert.Equal(["a.dest.test", "b.dest.test", "c.dest.test"], ordered.Select(o => o.Host));
        Assert.Equal([10, 20, 30], ordered.Select(o => o.Preference));
    }

    [Fact]
    public void Hosts_of_equal_preference_are_shuffled_but_stay_behind_better_ones()
    {
        var seen = new HashSet<string>();
        for (var seed = 0; seed < 50; seed++)
        {
            var ordered = MxOrdering.Order([Mx(10, "x.dest.test."), Mx(10, "y.dest.test."), Mx(5, "first.dest.test.")], new Random(seed))!;
            Assert.Equal("first.dest.test", ordered[0].Host);
            seen.Add(ordered[1].Host);
        }

        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public void A_single_mx_of_dot_is_a_null_mx()
    {
        Assert.Null(MxOrdering.Order([Mx(0, ".")]));
    }

    [Fact]
    public void Dot_exchanges_among_real_ones_are_dropped_and_duplicates_keep_their_best_preference()
    {
        var ordered = MxOrdering.Order([Mx(0, "."), Mx(20, "a.dest.test."), Mx(10, "A.dest.test."), Mx(15, "b.dest.test.")])!;

        Assert.Equal(["a.dest.test", "b.dest.test"], ordered.Select(o => o.Host));
        Assert.Equal(10, ordered[0].Preference);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1:53")]
    [InlineData("127.0.0.1:5353", "127.0.0.1:5353")]
    [InlineData("::1", "[::1]:53")]
    [InlineData("[::1]:5353", "[::1]:5353")]
    public void Dns_servers_are_ip_or_ip_and_port(string value, string expected)
    {
        Assert.Equal(IPEndPoint.Parse(expected), DnsMxResolver.ParseServer(value));
    }

    [Theory]
    [InlineData("dns.example.com")]
    [InlineData("127.0.0.1:notaport")]
    [InlineData("")]
    public void A_bad_dns_server_gets_a_clear_error(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => DnsMxResolver.ParseServer(value));
        Assert.Contains("ip:port", error.Message);
    }
}
