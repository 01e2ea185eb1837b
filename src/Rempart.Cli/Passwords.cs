using System.Security.Cryptography;
using System.Text;
using Rempart.Common.Configuration;
using Rempart.Store.Auth;

namespace Rempart.Cli;

/// <summary>
/// Passwords come from stdin (never from an argument, which other users can read in the process list and which
/// lands in shell history) or are generated and shown once.
/// </summary>
internal static class Passwords
{
    public const int MinLength = 8;
    public const int MaxLength = 1024;

    // No look-alikes (0/O, 1/l/I) so a generated password can be read aloud or retyped.
    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    private const int GeneratedLength = 20;

    /// <summary>
    /// Reads the first line of stdin; the line ending is not part of the password. When stdin is a terminal, prompts on
    /// stderr and reads without echo so the password never shows on screen.
    /// </summary>
    public static async Task<string> ReadAsync(CliIo io, CancellationToken ct)
    {
        var line = io.Host.IsInputTerminal ? ReadHidden(io.Err) : await io.In.ReadLineAsync(ct);
        if (string.IsNullOrEmpty(line))
        {
            throw CliException.Usage("--password-stdin: no password on stdin. Pipe it in, for example: printf '%s\\n' \"$PASSWORD\" | rempart user passwd alice@example.com --password-stdin");
        }

        if (line.Length < MinLength)
        {
            throw CliException.Usage($"--password-stdin: the password is shorter than {MinLength} characters; choose a longer one, or omit --password-stdin to have one generated.");
        }

        if (line.Length > MaxLength)
        {
            throw CliException.Usage($"--password-stdin: the password is longer than {MaxLength} characters.");
        }

        return line;
    }

    private static string ReadHidden(TextWriter prompt)
    {
        prompt.Write("Password: ");
        prompt.Flush();
        var text = new StringBuilder();
        while (text.Length <= MaxLength)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }

        prompt.WriteLine();
        return text.ToString();
    }

    /// <summary>About 116 bits of entropy.</summary>
    public static string Generate() => RandomNumberGenerator.GetString(Alphabet, GeneratedLength);

    public static string Hash(RempartOptions options, string password) =>
        new PasswordHasher(options.Auth.Argon2MemoryKib, options.Auth.Argon2Iterations, options.Auth.Argon2Parallelism).Hash(password);
}
