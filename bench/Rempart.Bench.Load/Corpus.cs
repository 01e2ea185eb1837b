using System.Globalization;
using System.Text;

namespace Rempart.Bench.Load;

/// <summary>
/// Deterministic plain-text messages. Words are built from syllables without the letters q, x and z, so the
/// planted search terms (which contain them) can only match where they were planted.
/// </summary>
internal static class Corpus
{
    public const string RareTerm = "zqxrare";
    public const string MissingTerm = "zqxabsent";
    private static readonly string[] Syllables =
    [
        "ba", "be", "bi", "bo", "ca", "ce", "co", "da", "de", "di", "do", "fa", "fe", "fi", "ga", "go", "ha", "he", "hi",
        "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "pa", "pe", "pi", "po", "ra", "re", "ri",
        "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to", "va", "ve", "vi", "wa", "we", "ya", "yo", "ul", "an", "en",
    ];

    public static readonly string[] Words = BuildWords();

    /// <summary>A vocabulary word: it appears in about a quarter of the messages.</summary>
    public static string CommonTerm => Words[7];

    private static string[] BuildWords()
    {
        var rng = new Random(20261127);
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (set.Count < 2000)
        {
            var sb = new StringBuilder();
            var n = rng.Next(2, 5);
            for (var i = 0; i < n; i++)
            {
                sb.Append(Syllables[rng.Next(Syllables.Length)]);
            }

            set.Add(sb.ToString());
        }

        return [.. set];
    }

    /// <summary>
    /// A message of about <paramref name="size"/> bytes, CRLF line ends, no line starting with '.', so it is
    /// already dot-stuffed for DATA and valid as an APPEND literal.
    /// </summary>
    public static byte[] Message(long seq, string to, int size, bool plantRare)
    {
        var rng = new Random(unchecked((int)(seq * 7919 + 17)));
        var sb = new StringBuilder(size + 200);
        var sender = seq % 50;
        sb.Append(CultureInfo.InvariantCulture, $"From: Sender {sender} <sender{sender}@bench.test>\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"To: <{to}>\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Subject: {Words[rng.Next(200)]} {Words[rng.Next(Words.Length)]} report {seq}\r\n");
        var date = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(seq % 500_000);
        sb.Append("Date: ").Append(date.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture)).Append("\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Message-ID: <{seq}.{Guid.NewGuid():N}@bench.test>\r\n");
        sb.Append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
        var plantAt = sb.Length + (size - sb.Length) / 2;
        var line = new StringBuilder(80);
        while (sb.Length < size - 2)
        {
            line.Clear();
            while (line.Length < 70)
            {
                if (plantRare && sb.Length >= plantAt)
                {
                    line.Append(RareTerm).Append(' ');
                    plantRare = false;
                }

                line.Append(Words[Zipf(rng)]).Append(' ');
            }

            var remaining = size - 2 - sb.Length;
            if (remaining < line.Length + 2)
            {
                line.Length = Math.Max(1, remaining - 2);
            }

            sb.Append(line.ToString().TrimEnd()).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    // A skewed pick, like natural text: low indexes are much more frequent.
    private static int Zipf(Random rng)
    {
        var u = rng.NextDouble();
        return Math.Min(Words.Length - 1, (int)(Words.Length * u * u * u));
    }
}
