using System.Text;
using MimeKit;
using Rempart.Common.Configuration;

namespace Rempart.Antivirus.Tests;

public sealed class AttachmentInspectorTests
{
    private static InspectionResult Inspect(MimeMessage message, AntivirusOptions? options = null) =>
        new AttachmentInspector(options ?? new AntivirusOptions()).Inspect(message);

    private static InspectionResult InspectAttached(string name, byte[] content, AntivirusOptions? options = null) =>
        Inspect(TestData.Attached(name, content), options);

    [Fact]
    public void Clean_text_message_is_allowed()
    {
        var result = Inspect(TestData.Message("Just text."));
        Assert.Equal(PolicyVerdict.Allow, result.Verdict);
        Assert.Null(result.Reason);
        Assert.Equal("text", Assert.Single(result.Attachments).DetectedType);
    }

    [Fact]
    public void Executable_renamed_txt_is_blocked_by_its_MZ_header()
    {
        var result = InspectAttached("invoice.txt", TestData.PeExecutable());
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.Contains("'exe'", result.Reason, StringComparison.Ordinal);
        var part = result.Attachments.Single(a => a.FileName == "invoice.txt");
        Assert.Equal("exe", part.DetectedType);
        Assert.Equal(0, part.Depth);
    }

    [Theory]
    [InlineData("elf")]
    [InlineData("macho")]
    public void Unix_executables_are_blocked_by_content(string kind)
    {
        var result = InspectAttached("readme.dat", kind == "elf" ? TestData.Elf() : TestData.MachO());
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.Equal(kind, result.Attachments.Single(a => a.FileName == "readme.dat").DetectedType);
    }

    [Theory]
    [InlineData("#!/bin/sh\nrm -rf ~\n", "sh")]
    [InlineData("#!/usr/bin/env python3\nimport os\n", "py")]
    [InlineData("#!/usr/bin/perl -w\nprint 1;\n", "pl")]
    [InlineData("Set sh = CreateObject(\"WScript.Shell\")\nsh.Run \"cmd\"\n", "vbs")]
    [InlineData("var s = new ActiveXObject(\"WScript.Shell\"); s.Run('x');", "js")]
    [InlineData("powershell -EncodedCommand SQBFAFgA", "ps1")]
    [InlineData("@echo off\r\ndel *.*\r\n", "bat")]
    [InlineData("<html><head><HTA:APPLICATION id=x></head></html>", "hta")]
    public void Scripts_renamed_txt_are_blocked_by_content(string content, string expectedType)
    {
        var result = InspectAttached("notes.txt", Encoding.ASCII.GetBytes(content));
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.Equal(expectedType, result.Attachments.Single(a => a.FileName == "notes.txt").DetectedType);
    }

    [Fact]
    public void A_body_quoting_a_script_is_not_an_attachment()
    {
        var result = Inspect(TestData.Message("#!/bin/sh\nTry: powershell Invoke-Expression and CreateObject(\"WScript.Shell\")"));
        Assert.Equal(PolicyVerdict.Allow, result.Verdict);
    }

    [Theory]
    [InlineData("setup.exe")]
    [InlineData("report.pdf.exe")]
    [InlineData("run.bat")]
    [InlineData("evil.scr.")]
    [InlineData("PAYLOAD.JS")]
    public void Blocked_extensions_are_refused_whatever_the_content(string name)
    {
        var result = InspectAttached(name, "%PDF-1.7\n"u8.ToArray());
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
    }

    [Fact]
    public void Blocked_types_come_from_the_options()
    {
        var options = new AntivirusOptions { BlockedTypes = ["rar"] };
        Assert.Equal(PolicyVerdict.Allow, InspectAttached("setup.exe.dat", "hello"u8.ToArray(), options).Verdict);
        Assert.Equal(PolicyVerdict.Reject, InspectAttached("data.bin", "Rar!\x1A\x07\x01\x00rest"u8.ToArray(), options).Verdict);
        Assert.Equal(PolicyVerdict.Allow, InspectAttached("data.bin", "Rar!\x1A\x07\x01\x00rest"u8.ToArray()).Verdict);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'%', (byte)'P', (byte)'D', (byte)'F', (byte)'-', (byte)'1' }, "pdf")]
    [InlineData(new byte[] { 0x1F, 0x8B, 8, 0 }, "gz")]
    [InlineData(new byte[] { (byte)'7', (byte)'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4 }, "7z")]
    [InlineData(new byte[] { (byte)'R', (byte)'a', (byte)'r', (byte)'!', 0x1A, 0x07, 0 }, "rar")]
    [InlineData(new byte[] { 0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46, 1 }, "lnk")]
    public void Types_are_recognised_by_magic_bytes(byte[] content, string expected)
    {
        var result = InspectAttached("file.bin", content);
        Assert.Equal(expected, result.Attachments.Single(a => a.FileName == "file.bin").DetectedType);
    }

    [Fact]
    public void Disk_image_is_blocked_by_content()
    {
        var result = InspectAttached("photos.dat", TestData.Iso());
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.Equal("iso", result.Attachments.Single(a => a.FileName == "photos.dat").DetectedType);
    }

    [Fact]
    public void Zip_containing_an_exe_is_blocked_and_the_entry_reported()
    {
        var result = InspectAttached("docs.zip", TestData.Zip(("readme.txt", "hi"u8.ToArray()), ("scan.pdf", TestData.PeExecutable())));
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        var entry = result.Attachments.Single(a => a.FileName == "scan.pdf");
        Assert.Equal("exe", entry.DetectedType);
        Assert.Equal(1, entry.Depth);
        Assert.Equal("docs.zip", entry.Container);
    }

    [Fact]
    public void Zip_with_harmless_files_is_allowed()
    {
        var result = InspectAttached("docs.zip", TestData.Zip(("a.txt", "hello"u8.ToArray()), ("b.pdf", "%PDF-1.4\n"u8.ToArray())));
        Assert.Equal(PolicyVerdict.Allow, result.Verdict);
        Assert.Equal("zip", result.Attachments.Single(a => a.FileName == "docs.zip").DetectedType);
        Assert.Equal(2, result.Attachments.Count(a => a.Container == "docs.zip"));
    }

    [Fact]
    public void Nested_zip_within_depth_is_opened_to_the_exe()
    {
        var result = InspectAttached("level1.zip", TestData.NestedZip(3, "tool.dat", TestData.PeExecutable()));
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        var exe = result.Attachments.Single(a => a.FileName == "tool.dat");
        Assert.Equal(3, exe.Depth);
        Assert.Equal("level3.zip", exe.Container);
    }

    [Fact]
    public void Nested_zip_beyond_depth_is_unscannable_and_follows_policy()
    {
        var zip = TestData.NestedZip(4, "tool.dat", TestData.PeExecutable());
        var quarantined = InspectAttached("level1.zip", zip);
        Assert.Equal(PolicyVerdict.Quarantine, quarantined.Verdict);
        Assert.Contains("nested deeper than 3", quarantined.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(quarantined.Attachments, a => a.FileName == "tool.dat");

        var deeper = InspectAttached("level1.zip", zip, new AntivirusOptions { MaxArchiveDepth = 4 });
        Assert.Equal(PolicyVerdict.Reject, deeper.Verdict);

        var rejected = InspectAttached("level1.zip", zip, new AntivirusOptions { UnscannableArchives = "reject" });
        Assert.Equal(PolicyVerdict.Reject, rejected.Verdict);
    }

    [Fact]
    public void Office_documents_are_still_recognised_when_archives_are_not_opened()
    {
        var options = new AntivirusOptions { MaxArchiveDepth = 0 };
        var docx = TestData.Zip(("[Content_Types].xml", "<Types/>"u8.ToArray()), ("word/document.xml", "<w/>"u8.ToArray()));
        var result = InspectAttached("letter.docx", docx, options);
        Assert.Equal(PolicyVerdict.Allow, result.Verdict);
        Assert.Equal("docx", result.Attachments.Single(a => a.FileName == "letter.docx").DetectedType);

        var zip = InspectAttached("files.zip", TestData.Zip(("a.txt", "x"u8.ToArray())), options);
        Assert.Equal(PolicyVerdict.Quarantine, zip.Verdict);
    }

    [Fact]
    public void Zip_bomb_by_compression_ratio_is_blocked()
    {
        // 20 MiB of zeros deflates to about 20 KiB: ratio near 1000, under the 100 MB expanded-size limit.
        var bomb = TestData.Zip(("zeros.bin", new byte[20 * 1024 * 1024]));
        Assert.True(bomb.Length < 100 * 1024);
        var result = InspectAttached("bomb.zip", bomb);
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.StartsWith("zip bomb: compression ratio", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip_bomb_is_refused_from_its_declared_sizes_without_inflating()
    {
        // Each entry claims 1 GiB over 16 bytes of data that are not valid deflate: inflating anything would fail
        // as a corrupt archive (quarantine), so a "zip bomb" rejection proves the sizes were checked first.
        var garbage = Enumerable.Repeat((byte)0xFF, 16).ToArray();
        var bomb = TestData.RawZip(
            new RawEntry("a.bin", garbage, DeclaredSize: 1u << 30, Method: 8),
            new RawEntry("b.bin", garbage, DeclaredSize: 1u << 30, Method: 8));
        var result = InspectAttached("bomb.zip", bomb, new AntivirusOptions { MaxCompressionRatio = int.MaxValue });
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.StartsWith("zip bomb: archives expand to more than", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip_bomb_spread_over_many_small_entries_is_blocked_by_total_size()
    {
        var options = new AntivirusOptions { MaxArchiveExpandedSize = 3 * 1024 * 1024 };
        // Incompressible content, so only the total trips (the ratio check stays quiet).
        var chunk = new byte[1024 * 1024];
        new Random(42).NextBytes(chunk);
        var result = InspectAttached("many.zip", TestData.Zip(("1", chunk), ("2", chunk), ("3", chunk), ("4", chunk)), options);
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.StartsWith("zip bomb: archives expand", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip_with_too_many_files_is_blocked()
    {
        var entries = Enumerable.Range(0, 11).Select(i => ($"f{i}.txt", "x"u8.ToArray())).ToArray();
        var result = InspectAttached("many.zip", TestData.Zip(entries), new AntivirusOptions { MaxArchiveFiles = 10 });
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.StartsWith("zip bomb: more than 10 files", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Entry_longer_than_declared_is_not_trusted()
    {
        // Stored entry with 4 KiB of data declaring 10 bytes, itself a zip: reading stops at the declared size.
        var inner = TestData.Zip(("x.txt", new byte[4096]));
        var lying = TestData.RawZip(new RawEntry("inner.zip", inner, DeclaredSize: 10));
        var result = InspectAttached("outer.zip", lying);
        Assert.NotEqual(PolicyVerdict.Allow, result.Verdict);
    }

    [Theory]
    [InlineData(null, PolicyVerdict.Quarantine)]
    [InlineData("allow", PolicyVerdict.Allow)]
    [InlineData("reject", PolicyVerdict.Reject)]
    public void Encrypted_zip_follows_policy(string? policy, PolicyVerdict expected)
    {
        var options = new AntivirusOptions();
        if (policy is not null)
        {
            options.EncryptedArchives = policy;
        }

        var zip = TestData.RawZip(new RawEntry("secret.pdf", new byte[64], DeclaredSize: 52, Flags: 1));
        var result = InspectAttached("secret.zip", zip, options);
        Assert.Equal(expected, result.Verdict);
        Assert.Equal("encrypted", result.Attachments.Single(a => a.FileName == "secret.pdf").DetectedType);
        if (expected != PolicyVerdict.Allow)
        {
            Assert.Contains("encrypted archive", result.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Encrypted_zip_hiding_a_blocked_name_is_rejected()
    {
        var zip = TestData.RawZip(new RawEntry("payload.exe", new byte[64], DeclaredSize: 52, Flags: 1));
        Assert.Equal(PolicyVerdict.Reject, InspectAttached("secret.zip", zip).Verdict);
    }

    [Fact]
    public void Corrupt_zip_is_unscannable()
    {
        var result = InspectAttached("broken.zip", "PK\x03\x04 this is not really a zip file"u8.ToArray());
        Assert.Equal(PolicyVerdict.Quarantine, result.Verdict);
        Assert.Contains("corrupt archive", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, PolicyVerdict.Quarantine)]
    [InlineData("allow", PolicyVerdict.Allow)]
    [InlineData("reject", PolicyVerdict.Reject)]
    public void Ooxml_with_vba_project_follows_macro_policy(string? policy, PolicyVerdict expected)
    {
        var options = new AntivirusOptions();
        if (policy is not null)
        {
            options.MacroDocuments = policy;
        }

        // Named .docx on purpose: the content (vbaProject.bin) decides, not the name.
        var docm = TestData.Zip(("[Content_Types].xml", "<Types/>"u8.ToArray()), ("word/document.xml", "<w/>"u8.ToArray()), ("word/vbaProject.bin", TestData.Ole2("_VBA_PROJECT")));
        var result = InspectAttached("report.docx", docm, options);
        Assert.Equal(expected, result.Verdict);
        Assert.Equal("docm", result.Attachments.Single(a => a.FileName == "report.docx").DetectedType);
    }

    [Fact]
    public void Ooxml_without_macros_is_allowed()
    {
        var docx = TestData.Zip(("[Content_Types].xml", "<Types/>"u8.ToArray()), ("xl/workbook.xml", "<w/>"u8.ToArray()));
        var result = InspectAttached("sheet.xlsx", docx);
        Assert.Equal(PolicyVerdict.Allow, result.Verdict);
        Assert.Equal("xlsx", result.Attachments.Single(a => a.FileName == "sheet.xlsx").DetectedType);
    }

    [Fact]
    public void Macro_extension_follows_macro_policy_even_without_content()
    {
        Assert.Equal(PolicyVerdict.Quarantine, InspectAttached("budget.xlsm", "not really"u8.ToArray()).Verdict);
    }

    [Fact]
    public void Ole2_document_with_vba_project_follows_macro_policy()
    {
        var withMacro = InspectAttached("letter.doc", TestData.Ole2("Root Entry", "WordDocument", "Macros", "VBA", "_VBA_PROJECT"));
        Assert.Equal(PolicyVerdict.Quarantine, withMacro.Verdict);
        Assert.Equal("docm", withMacro.Attachments.Single(a => a.FileName == "letter.doc").DetectedType);

        var plain = InspectAttached("letter.doc", TestData.Ole2("Root Entry", "WordDocument", "1Table"));
        Assert.Equal(PolicyVerdict.Allow, plain.Verdict);
        Assert.Equal("doc", plain.Attachments.Single(a => a.FileName == "letter.doc").DetectedType);
    }

    [Fact]
    public void Password_protected_office_document_follows_encrypted_policy()
    {
        var result = InspectAttached("secret.docx", TestData.Ole2("Root Entry", "EncryptionInfo", "EncryptedPackage"), new AntivirusOptions { EncryptedArchives = "reject" });
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
    }

    [Fact]
    public void Java_archive_renamed_zip_is_blocked()
    {
        var jar = TestData.Zip(("META-INF/MANIFEST.MF", "Main-Class: X\n"u8.ToArray()), ("X.class", [0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 52]));
        var result = InspectAttached("photos.zip", jar);
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.Equal("jar", result.Attachments.Single(a => a.FileName == "photos.zip").DetectedType);
    }

    [Fact]
    public void Attached_message_is_walked()
    {
        var inner = TestData.Attached("tool.txt", TestData.PeExecutable());
        var outer = TestData.Message();
        outer.Body = new Multipart("mixed") { new TextPart("plain") { Text = "Forwarded." }, new MessagePart { Message = inner } };
        var result = Inspect(outer);
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        var exe = result.Attachments.Single(a => a.FileName == "tool.txt");
        Assert.Equal(1, exe.Depth);
        Assert.Equal("message/rfc822", exe.Container);
    }

    [Fact]
    public void Mime_nesting_beyond_the_limit_is_quarantined()
    {
        MimeEntity body = new TextPart("plain") { Text = "deep" };
        for (var i = 0; i < 5; i++)
        {
            body = new Multipart("mixed") { body };
        }

        var message = TestData.Message();
        message.Body = body;
        Assert.Equal(PolicyVerdict.Allow, Inspect(message).Verdict);
        var result = Inspect(message, new AntivirusOptions { MaxMimeDepth = 3 });
        Assert.Equal(PolicyVerdict.Quarantine, result.Verdict);
        Assert.Contains("MIME nesting", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reject_outranks_quarantine_whatever_the_order()
    {
        var message = TestData.Message("x", ("budget.xlsm", "application/octet-stream", "x"u8.ToArray()), ("a.txt", "text/plain", TestData.PeExecutable()));
        var result = Inspect(message);
        Assert.Equal(PolicyVerdict.Reject, result.Verdict);
        Assert.Contains("'exe'", result.Reason, StringComparison.Ordinal);
    }

    public static TheoryData<string> FixtureFiles() =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures"), "*.eml").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    /// <summary>
    /// Data-driven policy fixtures (house style, habit 14): each .eml carries the verdict it must get in
    /// "X-Expect-Verdict" and optionally a part's detected type in "X-Expect-Type: file-name=type".
    /// </summary>
    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Fixture_messages_get_their_expected_verdict(string file)
    {
        var message = MimeMessage.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", file));
        var expected = Enum.Parse<PolicyVerdict>(message.Headers["X-Expect-Verdict"] ?? throw new InvalidOperationException(file + ": no X-Expect-Verdict"));
        var result = Inspect(message);
        Assert.True(expected == result.Verdict, $"{file}: expected {expected}, got {result.Verdict} ({result.Reason})");
        foreach (var header in message.Headers.Where(h => h.Field == "X-Expect-Type"))
        {
            var (name, type) = (header.Value.Split('=')[0].Trim(), header.Value.Split('=')[1].Trim());
            Assert.Equal(type, result.Attachments.Single(a => a.FileName == name).DetectedType);
        }
    }
}
