using System.Runtime.InteropServices;
using Konscious.Security.Cryptography;

namespace Rempart.Store.Auth;

/// <summary>
/// Argon2id (RFC 9106, version 0x13) for stored passwords and backup keys. Uses the reference C implementation from
/// the system (Debian's libargon2-1, <c>libargon2.so.1</c>) when it is there, about ten times faster than the managed
/// one, and Konscious.Security.Cryptography otherwise; both give the same bytes (a test compares them), so hashes and
/// repositories never depend on which one ran.
/// </summary>
public static class Argon2
{
    private const string NativeName = "libargon2.so.1";
    private static readonly IntPtr NativeHash = LoadNative();

    /// <summary>True when the system library is used.</summary>
    public static bool IsNative => NativeHash != IntPtr.Zero;

    public static byte[] Argon2id(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int memoryKib, int iterations, int parallelism, int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 4);
        return IsNative
            ? Native(password, salt, memoryKib, iterations, parallelism, length)
            : Managed(password, salt, memoryKib, iterations, parallelism, length);
    }

    /// <summary>The managed implementation, always (tests compare it with the native one).</summary>
    internal static byte[] Managed(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int memoryKib, int iterations, int parallelism, int length)
    {
        using var argon = new Argon2id(password.ToArray())
        {
            Salt = salt.ToArray(),
            MemorySize = memoryKib,
            Iterations = iterations,
            DegreeOfParallelism = parallelism,
        };
        return argon.GetBytes(length);
    }

    private static unsafe byte[] Native(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int memoryKib, int iterations, int parallelism, int length)
    {
        // int argon2id_hash_raw(uint32_t t_cost, uint32_t m_cost, uint32_t parallelism, const void *pwd, size_t pwdlen,
        //                       const void *salt, size_t saltlen, void *hash, size_t hashlen); 0 is ARGON2_OK.
        var hash = (delegate* unmanaged<uint, uint, uint, byte*, nuint, byte*, nuint, byte*, nuint, int>)NativeHash;
        var output = new byte[length];
        int result;
        fixed (byte* p = password)
        fixed (byte* s = salt)
        fixed (byte* o = output)
        {
            result = hash((uint)iterations, (uint)memoryKib, (uint)parallelism, p, (nuint)password.Length, s, (nuint)salt.Length, o, (nuint)length);
        }

        // Parameters are validated by the callers, so an error here is an environment problem (out of memory): the
        // managed implementation gives the same answer or fails with its own exception.
        return result == 0 ? output : Managed(password, salt, memoryKib, iterations, parallelism, length);
    }

    private static IntPtr LoadNative()
    {
        if (Environment.GetEnvironmentVariable("REMPART_ARGON2_MANAGED") == "1" || !OperatingSystem.IsLinux())
        {
            return IntPtr.Zero;
        }

        return NativeLibrary.TryLoad(NativeName, out var library) && NativeLibrary.TryGetExport(library, "argon2id_hash_raw", out var export)
            ? export
            : IntPtr.Zero;
    }
}
