using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Rempart.Net;

/// <summary>
/// Turns on OpenSSL's SSL_MODE_RELEASE_BUFFERS for a server connection, as nginx and Dovecot do: OpenSSL then frees
/// its two 17 KB record buffers whenever they are empty instead of keeping them for the life of the connection. Most
/// mail connections sit idle (IMAP IDLE) most of the time, so this is about a third of what an idle TLS session
/// costs. .NET has no public switch for it: the SSL handle is reached through SslStream's private security context
/// and the mode is set with SSL_ctrl from the very libssl the process already loaded. Anything unexpected (another
/// platform, a .NET that changed its internals, no libssl mapped) leaves the connection as .NET made it; a test
/// checks that on this platform the switch really takes.
/// </summary>
public static class OpenSslIdleBuffers
{
    private const int SslCtrlMode = 33;
    private const long SslModeReleaseBuffers = 0x10;

    private static readonly FieldInfo? s_securityContext =
        typeof(SslStream).GetField("_securityContext", BindingFlags.NonPublic | BindingFlags.Instance);

    private static readonly IntPtr s_sslCtrl = LoadSslCtrl();

    /// <summary>
    /// Sets the mode on a stream whose handshake is complete and that nothing reads or writes yet (the handle must not
    /// be used concurrently). Returns true when OpenSSL reports the mode set.
    /// </summary>
    public static unsafe bool TryEnable(SslStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (s_sslCtrl == IntPtr.Zero || s_securityContext?.GetValue(stream) is not SafeHandle handle
            || handle.GetType().Name != "SafeSslHandle" || handle.IsInvalid || handle.IsClosed)
        {
            return false;
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);

            // long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg); SSL_set_mode is this call, returning the new mode.
            var ctrl = (delegate* unmanaged<IntPtr, int, long, IntPtr, long>)s_sslCtrl;
            return (ctrl(handle.DangerousGetHandle(), SslCtrlMode, SslModeReleaseBuffers, IntPtr.Zero) & SslModeReleaseBuffers) != 0;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>SSL_ctrl of the libssl mapped into this process (the one .NET's TLS uses), never another copy.</summary>
    private static IntPtr LoadSslCtrl()
    {
        if (!OperatingSystem.IsLinux())
        {
            return IntPtr.Zero;
        }

        try
        {
            var path = File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : null)
                .FirstOrDefault(p => p is not null && Path.GetFileName(p).StartsWith("libssl.so", StringComparison.Ordinal));
            return path is not null && NativeLibrary.TryLoad(path, out var library) && NativeLibrary.TryGetExport(library, "SSL_ctrl", out var export)
                ? export
                : IntPtr.Zero;
        }
        catch (IOException)
        {
            return IntPtr.Zero;
        }
        catch (UnauthorizedAccessException)
        {
            return IntPtr.Zero;
        }
    }
}
