namespace Rempart.Antispam;

/// <summary>Replaces a file so that a crash leaves either the old or the new content, never a mix.</summary>
internal static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> data)
    {
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(data);

                // fsync before the rename: otherwise the rename can reach the disk before the data does.
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
