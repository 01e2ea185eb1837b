using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.SenderAuth.Dkim;

namespace Rempart.SenderAuth.Tests;

public sealed class DkimKeyStoreTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "rempart-dkim-" + Guid.NewGuid().ToString("n")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Generate_writes_a_private_key_only_the_owner_can_read_and_an_index()
    {
        var store = new DkimKeyStore(folder);
        var key = store.Generate("Example.TEST.", null, 1024);
        Assert.Equal("example.test", key.Domain);
        Assert.StartsWith("rempart", key.Selector, StringComparison.Ordinal);
        Assert.Equal(DkimKeyState.Active, key.State);
        Assert.Equal(key.Selector + "._domainkey.example.test", key.DnsName);
        Assert.True(File.Exists(key.PrivateKeyPath));
        Assert.True(File.Exists(Path.Combine(folder, "example.test", DkimKeyStore.IndexFileName)));
        Assert.StartsWith("v=DKIM1; k=rsa; p=MI", DkimKeyStore.DnsRecord(key), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key.PrivateKeyPath));
        }

        // The published record carries the public half of the file's key.
        var (parsed, error) = DnsDkimKeyLocator.ParseKeyRecord(DkimKeyStore.DnsRecord(key));
        Assert.Null(error);
        Assert.NotNull(parsed);
    }

    [Fact]
    public void Generate_refuses_a_second_active_key_and_bad_input()
    {
        var store = new DkimKeyStore(folder);
        store.Generate("example.test", "s1", 1024);
        Assert.Throws<InvalidOperationException>(() => store.Generate("example.test", "s2", 1024));
        Assert.Throws<ArgumentException>(() => store.Generate("not a domain", null, 1024));
        Assert.Throws<ArgumentException>(() => store.Generate("other.test", "bad selector", 1024));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.Generate("other.test", null, 1000));
        Assert.Throws<InvalidOperationException>(() => store.Rotate("nokey.test"));
    }

    [Fact]
    public void Rotate_makes_a_new_active_key_and_keeps_the_old_one_retired()
    {
        var store = new DkimKeyStore(folder);
        var first = store.Generate("example.test", "s1", 1024);
        var second = store.Rotate("example.test");
        Assert.NotEqual(first.Selector, second.Selector);
        Assert.Equal(1024, second.Bits);
        Assert.Equal(second.Selector, store.GetActive("example.test")!.Selector);

        var all = store.List();
        Assert.Equal(2, all.Count);
        var retired = Assert.Single(all, k => k.State == DkimKeyState.Retired);
        Assert.Equal("s1", retired.Selector);
        Assert.NotNull(retired.RetiredAt);
        Assert.True(File.Exists(retired.PrivateKeyPath));
    }

    [Fact]
    public void The_signer_picks_up_a_rotated_key_without_restart_and_skips_domains_without_keys()
    {
        var store = new DkimKeyStore(folder);
        store.Generate("example.test", "s1", 1024);
        var signer = new OutboundDkimSigner(store, NullLogger.Instance);
        var message = AuthWorld.Message("a@example.test");

        Assert.Contains(" s=s1;", Header(signer.Sign(message, "example.test")), StringComparison.Ordinal);
        store.Rotate("example.test", "s2");
        var rotated = Header(signer.Sign(message, "example.test"));
        Assert.Contains(" s=s2;", rotated, StringComparison.Ordinal);
        Assert.Contains("d=example.test", rotated, StringComparison.Ordinal);
        Assert.Contains("c=relaxed/relaxed", rotated, StringComparison.Ordinal);
        Assert.Contains("a=rsa-sha256", rotated, StringComparison.Ordinal);

        Assert.Equal(message, signer.Sign(message, "unknown.test"));
        Assert.Equal(message, signer.Sign(message, "not a domain"));
    }

    [Fact]
    public void The_signed_message_is_the_original_bytes_behind_one_new_header()
    {
        var store = new DkimKeyStore(folder);
        store.Generate("example.test", "s1", 1024);
        var message = AuthWorld.Message("a@example.test", body: "Caf\u00e9 8bit body\r\n");
        var signed = new OutboundDkimSigner(store, NullLogger.Instance).Sign(message, "example.test");
        Assert.True(signed.AsSpan().EndsWith(message));
        var prefix = Encoding.ASCII.GetString(signed, 0, signed.Length - message.Length);
        Assert.StartsWith("DKIM-Signature:", prefix, StringComparison.Ordinal);
        Assert.EndsWith("\r\n", prefix, StringComparison.Ordinal);
        Assert.DoesNotContain("\r\n\r\n", prefix, StringComparison.Ordinal);
        Assert.Equal(prefix.Replace("\r\n", "", StringComparison.Ordinal).Length, prefix.Replace("\r\n", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Length);
    }

    [Fact]
    public void A_damaged_index_is_reported_clearly()
    {
        var store = new DkimKeyStore(folder);
        Directory.CreateDirectory(Path.Combine(folder, "example.test"));
        File.WriteAllText(Path.Combine(folder, "example.test", DkimKeyStore.IndexFileName), "{ not json");
        var ex = Assert.Throws<InvalidDataException>(() => store.GetActive("example.test"));
        Assert.Contains("keys.json", ex.Message, StringComparison.Ordinal);

        // The signer sends unsigned rather than failing the delivery.
        var message = AuthWorld.Message("a@example.test");
        Assert.Equal(message, new OutboundDkimSigner(store, NullLogger.Instance).Sign(message, "example.test"));
    }

    private static string Header(byte[] signed)
    {
        var text = Encoding.ASCII.GetString(signed);
        return text[..text.IndexOf("\r\nFrom:", StringComparison.Ordinal)];
    }
}
