namespace Rempart.Antispam;

/// <summary>
/// Reads training mail: a folder of message files (one message each, .eml or any name; sub-folders included), or
/// an mbox file (messages separated by "From " lines, mboxrd "&gt;From " unquoted). Each message is cut to
/// <c>maxBytes</c>: learning only reads the head of a message anyway.
/// </summary>
public static class MailCorpus
{
    /// <summary>Messages of a folder or an mbox file, in a stable order (sorted file names).</summary>
    public static IEnumerable<byte[]> Read(string path, int maxBytes)
    {
        if (Directory.Exists(path))
        {
            foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                if (Path.GetFileName(file).StartsWith('.'))
                {
                    continue;
                }

                if (IsMbox(file))
                {
                    foreach (var m in ReadMbox(file, maxBytes))
                    {
                        yield return m;
                    }
                }
                else
                {
                    yield return ReadHead(file, maxBytes);
                }
            }
        }
        else if (File.Exists(path))
        {
            foreach (var m in ReadMbox(path, maxBytes))
            {
                yield return m;
            }
        }
        else
        {
            throw new FileNotFoundException($"no such file or folder: {path}", path);
        }
    }

    private static bool IsMbox(string file)
    {
        Span<byte> head = stackalloc byte[5];
        using var stream = File.OpenRead(file);
        return stream.ReadAtLeast(head, 5, throwOnEndOfStream: false) == 5 && head.SequenceEqual("From "u8);
    }

    private static byte[] ReadHead(string file, int maxBytes)
    {
        using var stream = File.OpenRead(file);
        var buffer = new byte[(int)Math.Min(maxBytes, stream.Length)];
        var n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Splits an mbox on lines starting with "From " (RFC 4155); the separator line itself is dropped.</summary>
    public static IEnumerable<byte[]> ReadMbox(string file, int maxBytes)
    {
        using var stream = new BufferedStream(File.OpenRead(file), 64 * 1024);
        var current = new MemoryStream();
        var started = false;
        var line = new MemoryStream();
        int b;
        while (true)
        {
            line.SetLength(0);
            while ((b = stream.ReadByte()) >= 0)
            {
                line.WriteByte((byte)b);
                if (b == '\n')
                {
                    break;
                }
            }

            if (line.Length == 0)
            {
                break;
            }

            var span = line.GetBuffer().AsSpan(0, (int)line.Length);
            if (span.StartsWith("From "u8))
            {
                if (started && current.Length > 0)
                {
                    yield return current.ToArray();
                }

                started = true;
                current.SetLength(0);
                continue;
            }

            if (!started)
            {
                started = true;
            }

            // mboxrd: ">From " and ">>From " lines had one '>' added when stored.
            var unquoted = span;
            var gt = 0;
            while (gt < span.Length && span[gt] == '>')
            {
                gt++;
            }

            if (gt > 0 && span[gt..].StartsWith("From "u8))
            {
                unquoted = span[1..];
            }

            if (current.Length < maxBytes)
            {
                current.Write(unquoted[..(int)Math.Min(unquoted.Length, maxBytes - current.Length)]);
            }
        }

        if (current.Length > 0)
        {
            yield return current.ToArray();
        }
    }
}
