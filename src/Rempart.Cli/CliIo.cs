using Spectre.Console;
using Spectre.Console.Rendering;

namespace Rempart.Cli;

/// <summary>The streams a command uses. Results go to stdout, errors and hints to stderr.</summary>
internal sealed class CliIo
{
    private readonly IAnsiConsole console;

    public CliIo(TextReader stdin, TextWriter stdout, TextWriter stderr, CliHost host)
    {
        In = stdin;
        Out = stdout;
        Err = stderr;
        Host = host;
        console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = host.IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = host.IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });

        // Piped output is read by scripts: never wrap a row because an imaginary terminal is 80 columns wide.
        if (!host.IsTerminal)
        {
            console.Profile.Width = 4096;
        }
    }

    public TextReader In { get; }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public CliHost Host { get; }

    /// <summary>Writes a table: bordered on a terminal, plain aligned columns (easy to grep and cut) otherwise.</summary>
    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var table = new Table { Border = Host.IsTerminal ? TableBorder.Rounded : TableBorder.None };
        foreach (var h in headers)
        {
            table.AddColumn(new TableColumn(new Text(h)) { NoWrap = true });
        }

        foreach (var row in rows)
        {
            table.AddRow(row.Select(IRenderable (c) => new Text(c)));
        }

        console.Write(table);
    }

    /// <summary>Writes "key  value" lines with the keys aligned.</summary>
    public void KeyValues(IEnumerable<(string Key, string Value)> pairs)
    {
        var list = pairs.ToList();
        var width = list.Count == 0 ? 0 : list.Max(p => p.Key.Length) + 2;
        foreach (var (key, value) in list)
        {
            Out.WriteLine(key.PadRight(width) + value);
        }
    }

    public void Line(string text) => Out.WriteLine(text);

    public void Hint(string text) => Err.WriteLine(text);
}
