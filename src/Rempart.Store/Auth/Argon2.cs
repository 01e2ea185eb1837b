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
        // Parameters are validated by the callers, so a native error is an environment problem (out of memory): the
        // managed implementation gives the same answer or fails with its own exception.
        return (IsNative ? Native(password, salt, memoryKib, iterations, parallelism, length) : null)
            ?? Managed(password, salt, memoryKib, iterations, parallelism, length);
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

    /// <summary>The system library's answer, or null when it failed (tests call it to see the native path itself work).</summary>
    internal static unsafe byte[]? Native(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int memoryKib, int iterations, int parallelism, int length)
    {
        // int argon2_ctx(argon2_context *context, argon2_type type); 0 is ARGON2_OK. The context form (rather than
        // argon2id_hash_raw) lets us hand the library its working memory: see Allocate.
        var run = (delegate* unmanaged<ArgonContext*, int, int>)NativeHash;
        var output = new byte[length];
        int result;
        fixed (byte* p = password)
        fixed (byte* s = salt)
        fixed (byte* o = output)
        {
            var context = new ArgonContext
            {
                Out = o,
                OutLength = (uint)length,
                Password = p,
                PasswordLength = (uint)password.Length,
                Salt = s,
                SaltLength = (uint)salt.Length,
                Passes = (uint)iterations,
                MemoryKib = (uint)memoryKib,
                Lanes = (uint)parallelism,
                Threads = (uint)parallelism,
                Version = 0x13,
                Allocate = &Allocate,
                Free = &Free,
            };
            result = run(&context, Argon2idType);
        }

        return result == 0 ? output : null;
    }

    /// <summary>
    /// The working memory (argon2MemoryKib, 64 MiB by default) comes straight from the kernel and goes back to it when
    /// the hash is done. Through malloc, glibc raises its mmap threshold after the first free and then serves these
    /// blocks from its per-thread arenas, which keep the freed, fully written pages resident: after a burst of logins
    /// on many threads that was tens of megabytes of RSS doing nothing (half the memory of 2,000 idle IMAP sessions).
    /// </summary>
    [UnmanagedCallersOnly]
    private static unsafe int Allocate(byte** memory, nuint bytes)
    {
        const int ProtReadWrite = 0x1 | 0x2;
        const int PrivateAnonymousPopulate = 0x02 | 0x20 | 0x8000;
        var block = Mmap(null, bytes, ProtReadWrite, PrivateAnonymousPopulate, -1, 0);
        if (block == (void*)-1)
        {
            *memory = null;
            return -22; // ARGON2_MEMORY_ALLOCATION_ERROR
        }

        *memory = (byte*)block;
        return 0;
    }

    [UnmanagedCallersOnly]
    private static unsafe void Free(byte* memory, nuint bytes)
    {
        if (memory is not null)
        {
            _ = Munmap(memory, bytes);
        }
    }

    [DllImport("libc", EntryPoint = "mmap")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern unsafe void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern unsafe int Munmap(void* address, nuint length);

    private const int Argon2idType = 2;

    /// <summary>argon2_context from argon2.h (20171227, Debian's libargon2-1), field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct ArgonContext
    {
        public byte* Out;
        public uint OutLength;
        public byte* Password;
        public uint PasswordLength;
        public byte* Salt;
        public uint SaltLength;
        public byte* Secret;
        public uint SecretLength;
        public byte* AssociatedData;
        public uint AssociatedDataLength;
        public uint Passes;
        public uint MemoryKib;
        public uint Lanes;
        public uint Threads;
        public uint Version;
        public delegate* unmanaged<byte**, nuint, int> Allocate;
        public delegate* unmanaged<byte*, nuint, void> Free;
        public uint Flags;
    }

    private static IntPtr LoadNative()
    {
        if (Environment.GetEnvironmentVariable("REMPART_ARGON2_MANAGED") == "1" || !OperatingSystem.IsLinux())
        {
            return IntPtr.Zero;
        }

        return NativeLibrary.TryLoad(NativeName, out var library) && NativeLibrary.TryGetExport(library, "argon2_ctx", out var export)
            ? export
            : IntPtr.Zero;
    }
}
