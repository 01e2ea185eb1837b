using System.Text;

namespace Rempart.Imap.Protocol;

/// <summary>RFC 3501 section 5.1.3 modified UTF-7 mailbox names, for clients that have not enabled UTF8=ACCEPT.</summary>
public static class ModifiedUtf7
{
    public static string Encode(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        var i = 0;
        while (i < name.Length)
        {
            var c = name[i];
            if (c == '&')
            {
                sb.Append("&-");
                i++;
            }
            else if (c >= 0x20 && c <= 0x7e)
            {
                sb.Append(c);
                i++;
            }
            else
            {
                var start = i;
                while (i < name.Length && (name[i] < 0x20 || name[i] > 0x7e))
                {
                    i++;
                }

                var bytes = Encoding.BigEndianUnicode.GetBytes(name[start..i]);
                sb.Append('&').Append(Convert.ToBase64String(bytes).TrimEnd('=').Replace('/', ',')).Append('-');
            }
        }

        return sb.ToString();
    }

    /// <summary>Decodes a name; returns the input unchanged when it is not valid modified UTF-7.</summary>
    public static string Decode(string name)
    {
        if (!name.Contains('&', StringComparison.Ordinal))
        {
            return name;
        }

        var sb = new StringBuilder(name.Length);
        var i = 0;
        while (i < name.Length)
        {
            var c = name[i];
            if (c != '&')
            {
                sb.Append(c);
                i++;
                continue;
            }

            var end = name.IndexOf('-', i + 1);
            if (end < 0)
            {
                return name;
            }

            if (end == i + 1)
            {
                sb.Append('&');
            }
            else
            {
                var b64 = name[(i + 1)..end].Replace(',', '/');
                b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
                try
                {
                    sb.Append(Encoding.BigEndianUnicode.GetString(Convert.FromBase64String(b64)));
                }
                catch (FormatException)
                {
                    return name;
                }
            }

            i = end + 1;
        }

        return sb.ToString();
    }
}
