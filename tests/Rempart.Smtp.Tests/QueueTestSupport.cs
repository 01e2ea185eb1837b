using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Smtp.Outbound;
using Rempart.Smtp.Queue;
using Rempart.Smtp.Routing;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Smtp.Tests;

/// <summary>A clock the test moves by hand (Microsoft.Extensions.TimeProvider.Testing is not available).</summary>
public sealed class QueueTestClock : TimeProvider
{
    private DateTimeOffset _now = new(2026, 11, 27, 8, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A real SQLite store in a temp folder, a loopback sink, the real transport and the runner.</summary>
public sealed class QueueHarness : IAsyncDisposable
{
    public const string Message = "From: alice@sender.test\r\nTo: bob@dest.test\r\nSubject: queued\r\nMessage-Id: <q1@sender.test>\r\n\r\nQUEUE-BODY\r\n";

    private readonly string _folder;

    private QueueHarness(string folder, OutboundTestSink sink, RempartOptions options)
    {
        _folder = folder;
        Sink = sink;
        Options = options;
    }

    public OutboundTestSink Sink { get; }

    public RempartOptions Options { get; }

    public QueueTestClock Clock { get; } = new();

    public SqliteMailStore Store { get; private set; } = null!;

    public SmtpOutboundTransport Transport { get; private set; } = null!;

    public QueueRunner Runner { get; private set; } = null!;

    public static async Task<QueueHarness> StartAsync(Action<QueueOptions>? configure = null, OutboundTestSink? sink = null)
    {
        var folder = Path.Combine(Path.GetTempPath(), "rempart-queue-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        sink ??= new OutboundTestSink();
        var options = new RempartOptions { HostName = "mx.rempart.test" };
        options.Queue.ConnectTimeout = TimeSpan.FromSeconds(10);
        options.Queue.FirstRetryDelay = TimeSpan.FromMinutes(1);
        options.Queue.MaxRetryDelay = TimeSpan.FromMinutes(8);
        options.Queue.DelayNoticeAfter = TimeSpan.FromHours(4);
        options.Queue.Lifetime = TimeSpan.FromDays(1);
        configure?.Invoke(options.Queue);
        options.Routes.Add(new RouteOptions { Name = "sink", SmartHost = $"127.0.0.1:{sink.Port}", Domains = ["*"], Tls = "none" });
        var harness = new QueueHarness(folder, sink, options);
        await harness.OpenAsync();
        return harness;
    }

    /// <summary>Opens (or reopens) the store and builds a fresh transport and runner on it.</summary>
    public async Task OpenAsync()
    {
        Store = await SqliteMailStore.OpenAsync(Path.Combine(_folder, "rempart.db"), Path.Combine(_folder, "blobs"), Options.Store, NullLogger.Instance);
        Transport = new SmtpOutboundTransport(Options, new RouteTable(Options), new FixedMxResolver(MxResult.Fail(MxStatus.TemporaryFailure, "no DNS")), Clock, NullLoggerFactory.Instance);
        Runner = new QueueRunner(Store, Options, Transport, Clock, NullLoggerFactory.Instance);
    }

    /// <summary>Disposes runner, transport and store, as a shutdown would.</summary>
    public async Task CloseAsync()
    {
        Runner.Dispose();
        await Transport.DisposeAsync();
        await Store.DisposeAsync();
    }

    public async Task<IReadOnlyList<long>> EnqueueAsync(string sender, params QueueRecipient[] recipients)
    {
        var blob = await Store.Blobs.PutAsync(Encoding.ASCII.GetBytes(Message));
        return await Runner.EnqueueAsync(new OutboundMessage(sender, recipients, blob, Clock.GetUtcNow(), EnvelopeId: "ENV-Q"));
    }

    /// <summary>Runs scans until nothing is due (bounded), at the current clock time.</summary>
    public async Task DrainAsync()
    {
        for (var i = 0; i < 10 && await Runner.ProcessDueAsync() > 0; i++)
        {
        }
    }

    /// <summary>Messages the sink received with the null sender (DSNs).</summary>
    public IReadOnlyList<SinkMessage> Dsns => Sink.Messages.Where(m => m.MailFrom.StartsWith("MAIL FROM:<>", StringComparison.Ordinal)).ToList();

    public IReadOnlyList<SinkMessage> Originals => Sink.Messages.Where(m => !m.MailFrom.StartsWith("MAIL FROM:<>", StringComparison.Ordinal)).ToList();

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        await Sink.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
