using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MimeKit;

namespace Rempart.Antivirus.Tests;

/// <summary>Builders for test messages and binary attachments, generated here rather than stored as fixtures.</summary>
internal static class TestData
{
    /// <summary>The EICAR test file, assembled at run time so this source file is not itself flagged by scanners.</summary>
    public static byte[] Eicar { get; } = Encoding.ASCII.GetBytes(
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS" + "-TEST-FILE!$H+H*");

    /// <summary>A minimal PE image head: "MZ", e_lfanew at 0x3C pointing to "PE\0\0".</summary>
    public static byte[] PeExecutable()
    {
        var b = new byte[512];
        b[0] = (byte)'M';
        b[1] = (byte)'Z';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(0x3C), 0x80);
        "PE\0\0"u8.CopyTo(b.AsSpan(0x80));
        return b;
    }

    public static byte[] Elf() => [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3E, 0];

    public static byte[] MachO() => [0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1, 3, 0, 0, 0, 2, 0, 0, 0];

    /// <summary>A synthetic OLE2 compound file holding directory names in UTF-16LE, as Word writes them.</summary>
    public static byte[] Ole2(params string[] streamNames)
    {
        using var ms = new MemoryStream();
        ms.Write([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
        ms.Write(new byte[504]);
        foreach (var name in streamNames)
        {
            ms.Write(Encoding.Unicode.GetBytes(name));
            ms.Write(new byte[128 - (name.Length * 2 % 128)]);
        }

        return ms.ToArray();
    }

    public static byte[] Iso()
    {
        var b = new byte[0x8001 + 2048];
        b[0x8000] = 1;
        "CD001"u8.CopyTo(b.AsSpan(0x8001));
        return b;
    }

    /// <summary>A real ZIP made by System.IO.Compression.</summary>
    public static byte[] Zip(params (string Name, byte[] Content)[] entries)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
                s.Write(content);
            }
        }

        return ms.ToArray();
    }

    /// <summary>A zip holding <paramref name="inner"/> wrapped <paramref name="levels"/> times ("level1.zip" is the outermost).</summary>
    public static byte[] NestedZip(int levels, string innerName, byte[] inner)
    {
        var current = Zip((innerName, inner));
        for (var level = levels - 1; level >= 1; level--)
        {
            current = Zip(($"level{level + 1}.zip", current));
        }

        return current;
    }

    /// <summary>
    /// A ZIP written byte by byte (APPNOTE 4.3): each entry's sizes, method and flags are whatever the test says,
    /// so an archive can claim a gigabyte over a few bytes of data, or mark an entry encrypted.
    /// </summary>
    public static byte[] RawZip(params RawEntry[] entries)
    {
        using var ms = new MemoryStream();
        var central = new MemoryStream();
        Span<byte> h = stackalloc byte[30];
        Span<byte> c = stackalloc byte[46];
        foreach (var e in entries)
        {
            h.Clear();
            c.Clear();
            var name = Encoding.UTF8.GetBytes(e.Name);
            var offset = (uint)ms.Position;
            BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034B50);
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 20);
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], e.Flags);
            BinaryPrimitives.WriteUInt16LittleEndian(h[8..], e.Method);
            BinaryPrimitives.WriteUInt32LittleEndian(h[14..], e.Crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)e.Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h[22..], e.DeclaredSize);
            BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)name.Length);
            ms.Write(h);
            ms.Write(name);
            ms.Write(e.Data);

            BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014B50);
            BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 20);
            BinaryPrimitives.WriteUInt16LittleEndian(c[6..], 20);
            BinaryPrimitives.WriteUInt16LittleEndian(c[8..], e.Flags);
            BinaryPrimitives.WriteUInt16LittleEndian(c[10..], e.Method);
            BinaryPrimitives.WriteUInt32LittleEndian(c[16..], e.Crc);
            BinaryPrimitives.WriteUInt32LittleEndian(c[20..], (uint)e.Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(c[24..], e.DeclaredSize);
            BinaryPrimitives.WriteUInt16LittleEndian(c[28..], (ushort)name.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(c[42..], offset);
            central.Write(c);
            central.Write(name);
        }

        var cdOffset = (uint)ms.Position;
        central.Position = 0;
        central.CopyTo(ms);
        Span<byte> end = stackalloc byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054B50);
        BinaryPrimitives.WriteUInt16LittleEndian(end[8..], (ushort)entries.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(end[10..], (ushort)entries.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(end[12..], (uint)central.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(end[16..], cdOffset);
        ms.Write(end);
        return ms.ToArray();
    }

    public static MimeMessage Message(string text = "Hello, see attached.", params (string? Name, string MimeType, byte[] Content)[] attachments)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.org"));
        message.To.Add(MailboxAddress.Parse("bob@example.net"));
        message.Subject = "test";
        var builder = new BodyBuilder { TextBody = text };
        foreach (var (name, type, content) in attachments)
        {
            var part = new MimePart(ContentType.Parse(type))
            {
                Content = new MimeContent(new MemoryStream(content)),
                ContentTransferEncoding = ContentEncoding.Base64,
                ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            };
            if (name is not null)
            {
                part.FileName = name;
            }

            builder.Attachments.Add(part);
        }

        message.Body = builder.ToMessageBody();
        return message;
    }

    public static MimeMessage Attached(string name, byte[] content, string type = "application/octet-stream") =>
        Message("See attached.", (name, type, content));

    public static byte[] Raw(MimeMessage message)
    {
        using var ms = new MemoryStream();
        message.WriteTo(ms);
        return ms.ToArray();
    }

    public static MimeMessage Parse(byte[] raw) => MimeMessage.Load(new MemoryStream(raw));
}

/// <summary>One entry of <see cref="TestData.RawZip"/>: method 0 stored, 8 deflate; flag bit 0 = encrypted.</summary>
internal sealed record RawEntry(string Name, byte[] Data, uint DeclaredSize, ushort Method = 0, ushort Flags = 0, uint Crc = 0);
