using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Store.Auth;

namespace Rempart.Store.Tests;

public sealed class AuthPasswordHasherTests
{
    private readonly PasswordHasher _hasher = new(memoryKib: 8192, iterations: 1);

    [Fact]
    public void A_hash_is_argon2id_in_phc_format_and_verifies_only_the_right_password()
    {
        var hash = _hasher.Hash("correct horse");
        Assert.StartsWith("$argon2id$v=19$m=8192,t=1,p=1$", hash, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("correct horse", hash));
        Assert.False(PasswordHasher.Verify("correct horsE", hash));
        Assert.False(PasswordHasher.Verify("", hash));
    }

    [Fact]
    public void The_same_password_hashes_differently_each_time_salt()
    {
        Assert.NotEqual(_hasher.Hash("pw"), _hasher.Hash("pw"));
    }

    [Fact]
    public void Hashes_made_with_other_parameters_still_verify()
    {
        var old = new PasswordHasher(memoryKib: 16384, iterations: 3, parallelism: 2).Hash("pw");
        Assert.True(PasswordHasher.Verify("pw", old));
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")]
    [InlineData("$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")]
    [InlineData("$argon2id$v=19$m=8192,t=1,p=1$!!!$aGFzaA")]
    [InlineData("$argon2id$v=19$m=8192,t=1,x=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")]
    public void Malformed_or_hostile_hashes_are_refused_not_thrown(string encoded)
    {
        Assert.False(PasswordHasher.Verify("pw", encoded));
    }

    [Fact]
    public void Known_vector_verifies_so_the_format_is_stable()
    {
        // Produced once by this hasher; if the PHC encoding or parameter parsing changes, stored hashes break.
        var stable = _hasher.Hash("stable");
        var parts = stable.Split('$');
        Assert.Equal(6, parts.Length);
        Assert.Equal(22, parts[4].Length); // 16-byte salt, unpadded base64
        Assert.Equal(43, parts[5].Length); // 32-byte hash, unpadded base64
    }
}

public sealed class AuthServiceTests : IAsyncLifetime
{
    private static readonly IPAddress Attacker = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress Other = IPAddress.Parse("2001:db8::1");
    private readonly ManualTime _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly AuthOptions _options = new() { Argon2MemoryKib = 8192, Argon2Iterations = 1 };
    private TempStore _store = null!;
    private AuthService _auth = null!;

    public async Task InitializeAsync()
    {
        _store = await TempStore.CreateAsync();
        await _store.Store.Directory.AddDomainAsync("example.test");
        var hasher = new PasswordHasher(8192, 1);
        await _store.Store.Directory.AddAccountAsync(new NewAccount("alice@example.test", hasher.Hash("alice-pw")));
        _auth = new AuthService(_store.Store.Directory, _options, NullLogger<AuthService>.Instance, _time);
    }

    public async Task DisposeAsync()
    {
        _auth.Dispose();
        await _store.DisposeAsync();
    }

    private Task<AuthResult> Login(string user, string pw, IPAddress ip) => _auth.AuthenticateAsync(user, pw, ip, "test");

    [Fact]
    public async Task Right_password_succeeds_wrong_and_unknown_fail_the_same_way()
    {
        var ok = await Login("alice@example.test", "alice-pw", Attacker);
        Assert.True(ok.Succeeded);
        Assert.Equal("alice@example.test", ok.Account!.Address);
        Assert.Equal(AuthOutcome.BadCredentials, (await Login("alice@example.test", "nope", Attacker)).Outcome);
        Assert.Equal(AuthOutcome.BadCredentials, (await Login("nobody@example.test", "alice-pw", Attacker)).Outcome);
        Assert.True((await Login("ALICE@example.test", "alice-pw", Other)).Succeeded);
    }

    [Fact]
    public async Task Five_failures_in_ten_minutes_ban_the_address_for_ten_minutes_even_with_the_right_password()
    {
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(AuthOutcome.BadCredentials, (await Login("alice@example.test", "bad" + i, Attacker)).Outcome);
        }

        Assert.False(_auth.IsBanned(Attacker));
        await Login("alice@example.test", "bad4", Attacker);
        Assert.True(_auth.IsBanned(Attacker));
        Assert.Equal(AuthOutcome.Throttled, (await Login("alice@example.test", "alice-pw", Attacker)).Outcome);

        // Another address is not affected.
        Assert.True((await Login("alice@example.test", "alice-pw", Other)).Succeeded);

        _time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        Assert.False(_auth.IsBanned(Attacker));
        Assert.True((await Login("alice@example.test", "alice-pw", Attacker)).Succeeded);
    }

    [Fact]
    public async Task Failures_spread_beyond_the_window_do_not_ban()
    {
        for (var i = 0; i < 8; i++)
        {
            await Login("alice@example.test", "bad", Attacker);
            _time.Advance(TimeSpan.FromMinutes(3));
        }

        Assert.False(_auth.IsBanned(Attacker));
    }

    [Fact]
    public async Task Repeat_offenders_are_banned_four_times_longer()
    {
        for (var i = 0; i < 5; i++)
        {
            await Login("x@example.test", "bad", Attacker);
        }

        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.False(_auth.IsBanned(Attacker));
        for (var i = 0; i < 5; i++)
        {
            await Login("x@example.test", "bad", Attacker);
        }

        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.True(_auth.IsBanned(Attacker));
        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.False(_auth.IsBanned(Attacker));
    }

    [Fact]
    public async Task Spraying_one_account_from_many_addresses_locks_it_and_success_resets_the_count()
    {
        for (var i = 0; i < 9; i++)
        {
            await Login("alice@example.test", "bad", IPAddress.Parse($"198.51.100.{i + 1}"));
        }

        // One short of the lock: a success resets the account counter...
        Assert.True((await Login("alice@example.test", "alice-pw", IPAddress.Parse("203.0.113.1"))).Succeeded);
        for (var i = 0; i < 9; i++)
        {
            await Login("alice@example.test", "bad", IPAddress.Parse($"198.51.100.{i + 20}"));
        }

        Assert.True((await Login("alice@example.test", "alice-pw", IPAddress.Parse("203.0.113.1"))).Succeeded);

        // ...ten in a row lock it, whatever the address.
        for (var i = 0; i < 10; i++)
        {
            await Login("alice@example.test", "bad", IPAddress.Parse($"198.51.100.{i + 40}"));
        }

        Assert.Equal(AuthOutcome.Throttled, (await Login("alice@example.test", "alice-pw", IPAddress.Parse("203.0.113.2"))).Outcome);
    }

    [Fact]
    public async Task Trusted_networks_are_never_throttled()
    {
        _options.TrustedNetworks.Add("192.0.2.0/24");
        using var auth = new AuthService(_store.Store.Directory, _options, NullLogger<AuthService>.Instance, _time);
        for (var i = 0; i < 12; i++)
        {
            await auth.AuthenticateAsync("alice@example.test", "bad", Attacker, "test");
        }

        Assert.False(auth.IsBanned(Attacker));
        Assert.True((await auth.AuthenticateAsync("alice@example.test", "alice-pw", Attacker, "test")).Succeeded);
    }

    [Fact]
    public async Task A_disabled_account_cannot_log_in()
    {
        var alice = await _store.Store.Directory.GetAccountAsync("alice@example.test");
        await _store.Store.Directory.SetDisabledAsync(alice!.Id, true);
        Assert.Equal(AuthOutcome.Disabled, (await Login("alice@example.test", "alice-pw", Attacker)).Outcome);
    }

    [Fact]
    public async Task Ipv4_mapped_ipv6_counts_as_the_same_address()
    {
        var mapped = Attacker.MapToIPv6();
        for (var i = 0; i < 5; i++)
        {
            await Login("alice@example.test", "bad", i % 2 == 0 ? mapped : Attacker);
        }

        Assert.True(_auth.IsBanned(Attacker));
        Assert.True(_auth.IsBanned(mapped));
    }

    [Fact]
    public void Sasl_plain_and_login_decode_credentials_and_reject_garbage()
    {
        var plain = SaslExchange.Start("plain")!;
        var step = plain.Next(Convert.ToBase64String("\0alice@example.test\0pw"u8));
        Assert.Equal(SaslStepKind.Done, step.Kind);
        Assert.Equal(("alice@example.test", "pw"), (step.Username, step.Password));
        Assert.Equal(SaslStepKind.Failed, SaslExchange.Start("PLAIN")!.Next("not base64!").Kind);
        Assert.Equal(SaslStepKind.Failed, SaslExchange.Start("PLAIN")!.Next(Convert.ToBase64String("nonul"u8)).Kind);
        Assert.Equal(SaslStepKind.Failed, SaslExchange.Start("PLAIN")!.Next(Convert.ToBase64String("bob\0alice\0pw"u8)).Kind);
        Assert.Equal(SaslStepKind.Cancelled, SaslExchange.Start("PLAIN")!.Next("*").Kind);
        Assert.Null(SaslExchange.Start("CRAM-MD5"));

        var login = SaslExchange.Start("LOGIN")!;
        Assert.Equal("VXNlcm5hbWU6", login.FirstChallenge);
        Assert.Equal(SaslStepKind.Challenge, login.Next(Convert.ToBase64String("alice@example.test"u8)).Kind);
        var done = login.Next(Convert.ToBase64String("pw"u8));
        Assert.Equal(("alice@example.test", "pw"), (done.Username, done.Password));
    }

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
