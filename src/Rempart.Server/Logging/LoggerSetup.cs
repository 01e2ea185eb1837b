using System.Collections;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Rempart.Common.Configuration;

namespace Rempart.Server.Logging;

/// <summary>
/// Builds the process logger: human console lines by default, one JSON object per line with
/// <c>logging.format = "json"</c>. Every entry passes through <see cref="Redactor"/> first.
/// </summary>
public static class LoggerSetup
{
    public static ILoggerFactory Create(RempartOptions options)
    {
        var level = Enum.Parse<LogLevel>(options.Logging.Level, ignoreCase: true);
        var console = LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(LogLevel.Trace);
            if (options.Logging.Format == "json")
            {
                b.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                });
            }
            else
            {
                b.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss ";
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
            }
        });
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(level);
            b.AddFilter("Microsoft", LogLevel.Warning);
            b.AddProvider(new RedactingLoggerProvider(console));
        });
    }
}

/// <summary>Wraps another logger factory and redacts every message and string property before it is written.</summary>
public sealed class RedactingLoggerProvider(ILoggerFactory inner) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new RedactingLogger(inner.CreateLogger(categoryName));

    public void Dispose() => inner.Dispose();

    private sealed class RedactingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }

            var message = Redactor.Redact(formatter(state, exception));
            var props = state as IReadOnlyList<KeyValuePair<string, object?>>;
            inner.Log(logLevel, eventId, new RedactedState(message, props), exception, static (s, _) => s.Message);
        }
    }

    private sealed class RedactedState(string message, IReadOnlyList<KeyValuePair<string, object?>>? props) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message => message;

        public int Count => props?.Count ?? 0;

        public KeyValuePair<string, object?> this[int index]
        {
            get
            {
                var kv = props![index];
                return kv.Value is string s && kv.Key != "{OriginalFormat}" ? new(kv.Key, Redactor.Redact(s)) : kv;
            }
        }

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            for (var i = 0; i < Count; i++)
            {
                yield return this[i];
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => message;
    }
}

/// <summary>
/// Removes secrets from log text: SASL payloads after AUTH/AUTHENTICATE, IMAP LOGIN passwords, POP3 PASS,
/// "password=..." pairs and Authorization headers. Protocol code already redacts (house style, habit 8); this is
/// the last line of defence.
/// </summary>
public static partial class Redactor
{
    public static string Redact(string text) => SecretPattern().Replace(text, m => m.Groups["key"].Value + "***");

    [GeneratedRegex(@"(?<key>(?i:\bAUTH\s+(?:PLAIN|LOGIN|XOAUTH2)\s+|\bAUTHENTICATE\s+PLAIN\s+|\bLOGIN\s+\S+\s+|^PASS\s+|\b(?:password|passwd|secret|token|apikey)\s*[=:]\s*|\bAuthorization:\s*\w+\s+))[^\s,;]+", RegexOptions.Multiline)]
    private static partial Regex SecretPattern();
}
