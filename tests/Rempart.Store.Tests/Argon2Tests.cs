using System.Text;
using Rempart.Store.Auth;

namespace Rempart.Store.Tests;

/// <summary>The system libargon2 and the managed implementation must give the same bytes, or hashes would depend on the machine.</summary>
public sealed class Argon2Tests
{
    [Theory]
    [InlineData("correct horse battery staple", "0123456789abcdef", 8192, 1, 1, 32)]
    [InlineData("pässwörd ☃", "another salt of 24 bytes", 19456, 2, 1, 32)]
    [InlineData("x", "saltsalt", 65536, 3, 2, 64)]
    public void Native_and_managed_agree(string password, string salt, int memoryKib, int iterations, int parallelism, int length)
    {
        var p = Encoding.UTF8.GetBytes(password);
        var s = Encoding.UTF8.GetBytes(salt);
        var managed = Argon2.Managed(p, s, memoryKib, iterations, parallelism, length);
        Assert.Equal(managed, Argon2.Argon2id(p, s, memoryKib, iterations, parallelism, length));
        if (Argon2.IsNative)
        {
            // Argon2id falls back to the managed code on a native error, so check the native path on its own.
            Assert.Equal(managed, Argon2.Native(p, s, memoryKib, iterations, parallelism, length));
        }

        Assert.NotEqual(managed, Argon2.Managed(p, s, memoryKib, iterations + 1, parallelism, length));
    }

    [Fact]
    public void The_system_library_is_used_where_it_is_installed()
    {
        // ./test.sh installs libargon2-1; elsewhere the managed fallback is what runs.
        Assert.Equal(File.Exists("/usr/lib/x86_64-linux-gnu/libargon2.so.1") || File.Exists("/usr/lib/aarch64-linux-gnu/libargon2.so.1"), Argon2.IsNative);
    }

    [Fact]
    public async Task Both_match_the_reference_argon2_command()
    {
        // Debian's argon2 tool (installed by ./test.sh) is the reference implementation's own front end.
        var psi = new System.Diagnostics.ProcessStartInfo("argon2") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "somesalt", "-id", "-t", "2", "-m", "16", "-p", "4", "-l", "32", "-r" })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = System.Diagnostics.Process.Start(psi)!;
        await process.StandardInput.WriteAsync("password");
        process.StandardInput.Close();
        var reference = (await process.StandardOutput.ReadToEndAsync()).Trim();
        await process.WaitForExitAsync();
        Assert.Equal(64, reference.Length);

        Assert.Equal(reference, Convert.ToHexStringLower(Argon2.Argon2id("password"u8, "somesalt"u8, 65536, 2, 4, 32)));
        Assert.Equal(reference, Convert.ToHexStringLower(Argon2.Native("password"u8, "somesalt"u8, 65536, 2, 4, 32) ?? []));
        Assert.Equal(reference, Convert.ToHexStringLower(Argon2.Managed("password"u8, "somesalt"u8, 65536, 2, 4, 32)));
    }
}
