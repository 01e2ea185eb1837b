using System.Runtime.InteropServices;

namespace Rempart.Store.Blobs;

/// <summary>
/// Directory fsync, which .NET does not expose: after a rename, the new directory entry is only durable once the
/// directory itself is flushed (POSIX leaves it to the file system; ext4 and xfs need it). Shared with the backup
/// repository, which has the same durability needs.
/// </summary>
public static class NativeFileSystem
{
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000; // Linux value of O_DIRECTORY on x86-64 and arm64.

    /// <summary>Creates a folder only the owner can enter (for example one holding a plaintext database copy).</summary>
    public static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>Flushes a directory's entries to stable storage. No-op on Windows, where NTFS journals renames.</summary>
    public static void FsyncDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var flags = OperatingSystem.IsLinux() ? ORdOnly | ODirectory : ORdOnly;
        var fd = Open(path, flags);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {path} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {path} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// Replaces a small file so that a crash leaves either the old or the new content, never a mix or nothing: the
    /// content goes to a new file beside it, fsynced, renamed over the old one, and the folder is fsynced so the
    /// rename itself is durable. Two writers at once each write their own temporary file; the last rename wins.
    /// </summary>
    public static void ReplaceFile(string path, ReadOnlySpan<byte> content)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var file = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write))
            {
                RandomAccess.Write(file, content, 0);

                // Before the rename: otherwise the rename can reach the disk before the data does.
                RandomAccess.FlushToDisk(file);
            }

            File.Move(temp, path, overwrite: true);
            FsyncDirectory(folder);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Flushes every dirty page and metadata of the file system holding <paramref name="path"/> in one call (Linux
    /// syncfs(2)): one flush for thousands of files written just before, where one fsync each would wait for the
    /// journal thousands of times. Returns false where syncfs does not exist; the caller then fsyncs file by file.
    /// </summary>
    public static bool TrySyncFileSystem(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        var fd = Open(path, ORdOnly | ODirectory);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {path} to sync its file system (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (SyncFs(fd) != 0)
            {
                throw new IOException($"syncfs of {path} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }

        return true;
    }

    /// <summary>
    /// Makes <paramref name="files"/> (all under <paramref name="folder"/>'s file system) durable: one syncfs where it
    /// exists, else an fsync per file. Returns true when syncfs was used (it also covered directory changes made before).
    /// </summary>
    public static bool SyncFiles(string folder, IEnumerable<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (TrySyncFileSystem(folder))
        {
            return true;
        }

        foreach (var file in files)
        {
            using var handle = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
            handle.Flush(flushToDisk: true);
        }

        return false;
    }

    [DllImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SyncFs(int fd);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
