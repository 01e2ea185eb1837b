using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using MimeKit;
using Rempart.Common.Configuration;

namespace Rempart.Antispam.Tests;

/// <summary>A temp folder removed at the end of the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rempart-spam-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Text)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception)));
}

internal static class Fixtures
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string SpamFolder => Path.Combine(Root, "train", "spam");

    public static string HamFolder => Path.Combine(Root, "train", "ham");

    public static string Score(string name) => Path.Combine(Root, "score", name);

    public static MimeMessage Parse(byte[] raw)
    {
        using var stream = new MemoryStream(raw, writable: false);
        return MimeMessage.Load(stream);
    }

    public static SpamAnalysis Analyze(SpamEngine engine, byte[] raw, long? accountId = null) => engine.Analyze(Parse(raw), raw, accountId);

    public static SpamAnalysis AnalyzeFile(SpamEngine engine, string name, long? accountId = null) => Analyze(engine, File.ReadAllBytes(Score(name)), accountId);

    /// <summary>Teaches the global model the 30 spam and 30 ham training fixtures.</summary>
    public static void Train(SpamEngine engine)
    {
        foreach (var m in MailCorpus.Read(SpamFolder, 1 << 20))
        {
            Assert.True(engine.Learn(m, isSpam: true, accountId: null));
        }

        foreach (var m in MailCorpus.Read(HamFolder, 1 << 20))
        {
            Assert.True(engine.Learn(m, isSpam: false, accountId: null));
        }
    }

    /// <summary>Trains a model folder with <see cref="Train"/>, then damages one of its files (<see cref="Damage"/>).</summary>
    public static void TrainThenDamage(Func<SpamEngine> newEngine, string path, string damage)
    {
        using (var engine = newEngine())
        {
            Train(engine);
        }

        File.WriteAllBytes(path, Damage(File.ReadAllBytes(path), damage));
    }

    /// <summary>A model file damaged one of three ways: "garbage" (not a model), "truncated" (half), or one bit flipped.</summary>
    public static byte[] Damage(byte[] bytes, string damage) => damage switch
    {
        "garbage" => Encoding.ASCII.GetBytes("this is not a model"),
        "truncated" => bytes[..(bytes.Length / 2)],
        _ => bytes.Select((b, i) => i == bytes.Length / 2 ? (byte)(b ^ 0x40) : b).ToArray(),
    };

    public static SpamOptions Options(Action<SpamOptions>? configure = null)
    {
        var o = new SpamOptions();
        configure?.Invoke(o);
        return o;
    }

    /// <summary>A variant of a fixture: another Message-ID and subject suffix, so that it counts as another message.</summary>
    public static byte[] Variant(string name, int n)
    {
        var text = File.ReadAllText(Score(name));
        text = text.Replace("Message-ID: <", $"Message-ID: <v{n}.", StringComparison.Ordinal).Replace("\r\nSubject: ", $"\r\nSubject: [{n}] ", StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(text);
    }
}
