using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Rempart.Store.Auth;

/// <summary>
/// Argon2id password hashing (RFC 9106) in the PHC string format
/// <c>$argon2id$v=19$m=MEMORY,t=ITERATIONS,p=LANES$SALT$HASH</c> (unpadded base64), so parameters can be raised
/// later while old hashes still verify with their own.
/// </summary>
public sealed class PasswordHasher(int memoryKib = 19456, int iterations = 2, int parallelism = 1)
{
    private const int SaltLength = 16;
    private const int HashLength = 32;

    public string Hash(string password)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        var hash = Compute(password, salt, memoryKib, iterations, parallelism, HashLength);
        return string.Create(CultureInfo.InvariantCulture, $"$argon2id$v=19$m={memoryKib},t={iterations},p={parallelism}${B64(salt)}${B64(hash)}");
    }

    /// <summary>True when <paramref name="password"/> matches; false for a wrong password or a malformed hash.</summary>
    public static bool Verify(string password, string encodedHash)
    {
        // Argon2 needs a non-empty secret; no stored password is empty, so an empty one never matches.
        if (password.Length == 0)
        {
            return false;
        }

        var parts = encodedHash.Split('$');
        if (parts.Length != 6 || parts[0].Length != 0 || parts[1] != "argon2id" || parts[2] != "v=19")
        {
            return false;
        }

        int m = 0, t = 0, p = 0;
        foreach (var kv in parts[3].Split(','))
        {
            var pair = kv.Split('=');
            if (pair.Length != 2 || !int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return false;
            }

            switch (pair[0])
            {
                case "m": m = v; break;
                case "t": t = v; break;
                case "p": p = v; break;
                default: return false;
            }
        }

        // Bound the parameters so a tampered hash cannot make verification allocate gigabytes.
        if (m is < 8 or > 1 << 21 || t is < 1 or > 64 || p is < 1 or > 16)
        {
            return false;
        }

        byte[] salt, expected;
        try
        {
            salt = FromB64(parts[4]);
            expected = FromB64(parts[5]);
        }
        catch (FormatException)
        {
            return false;
        }

        if (expected.Length is < 16 or > 128)
        {
            return false;
        }

        var actual = Compute(password, salt, m, t, p, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static byte[] Compute(string password, byte[] salt, int m, int t, int p, int length)
    {
        return Argon2.Argon2id(Encoding.UTF8.GetBytes(password), salt, m, t, p, length);
    }

    private static string B64(byte[] data) => Convert.ToBase64String(data).TrimEnd('=');

    private static byte[] FromB64(string s) => Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
}
