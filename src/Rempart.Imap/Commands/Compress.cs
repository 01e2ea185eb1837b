using System.IO.Compression;
using System.IO.Pipelines;
using Rempart.Imap.Protocol;

namespace Rempart.Imap;

/// <summary>COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, flushed with a sync flush after every response.</summary>
public sealed partial class ImapSession
{
    private DeflateStream? _inflate;
    private DeflateStream? _deflate;

    private async Task CompressAsync(ImapCommand c, CancellationToken ct)
    {
        RequireArgs(c, 1);
        if (!c.Args[0].Is("DEFLATE"))
        {
            No("Unknown compression mechanism");
            return;
        }

        if (_deflate is not null)
        {
            No("[COMPRESSIONACTIVE] Compression is already active");
            return;
        }

        _writer.Tagged(c.Tag, "OK", "DEFLATE active");
        await _writer.FlushAsync(ct);

        // Bytes the client pipelined after the command are already compressed, so they are read through the inflater.
        _inflate = new DeflateStream(_input.AsStream(leaveOpen: true), CompressionMode.Decompress, leaveOpen: false);
        _deflate = new DeflateStream(_connection.Output.AsStream(leaveOpen: true), CompressionLevel.Fastest, leaveOpen: false);
        _input = PipeReader.Create(_inflate, new StreamPipeReaderOptions(leaveOpen: true));
        _writer.Reset(PipeWriter.Create(_deflate, new StreamPipeWriterOptions(leaveOpen: true)));
    }

    private async ValueTask DisposeCompressionAsync()
    {
        if (_deflate is not null)
        {
            await _deflate.DisposeAsync();
        }

        if (_inflate is not null)
        {
            await _inflate.DisposeAsync();
        }
    }
}
