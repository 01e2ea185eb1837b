using System.CommandLine;
using System.Globalization;
using Rempart.Monitoring.Checks;
using Rempart.Store.Sqlite;

namespace Rempart.Cli.Commands;

/// <summary><c>rempart store scrub</c>: the full store integrity pass (docs/monitoring/probe.md).</summary>
internal static class StoreCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var store = new Command("store", "Check the message store");
        store.Subcommands.Add(Scrub(io, globals));
        return store;
    }

    private static Command Scrub(CliIo io, GlobalOptions globals)
    {
        var quiet = new Option<bool>("--quiet") { Description = "No progress lines on stderr" };
        var command = new Command("scrub", "Full integrity pass: SQLite integrity and foreign keys, every message body re-hashed, missing and orphan files. Exit 1 when damage is found, naming the affected messages") { quiet };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            await using var opened = await ctx.OpenStoreAsync(create: false, ct);
            if (opened is not SqliteMailStore sqlite)
            {
                throw CliException.Failed("rempart store scrub works on the embedded SQLite store only.");
            }

            var check = new StoreIntegrityCheck(sqlite, StoreIntegrityOptions.Default, io.Host.Time);
            var progress = ctx.Parse.GetValue(quiet) ? null : new ScrubProgressLine(io.Err);
            var report = await check.ScrubAllAsync(progress, ct);
            progress?.Finish();

            var damage = report.Damage.Where(d => d.Kind != "orphan").ToList();
            var orphans = report.Damage.Count(d => d.Kind == "orphan");
            foreach (var d in damage)
            {
                var what = d.Kind switch
                {
                    "corrupt" => "CORRUPT",
                    "missing" => "MISSING",
                    _ => "DATABASE",
                };
                io.Line(what + "  " + (d.Hash ?? "") + (d.Hash is null ? "" : "  ") + d.Detail);
                foreach (var reference in d.References)
                {
                    io.Line("    " + reference);
                }
            }

            io.Line(string.Create(CultureInfo.InvariantCulture,
                $"Scrubbed {report.BlobsChecked} blobs and {report.FilesScanned} files in {report.Duration.TotalSeconds:0.0} s: " +
                $"{damage.Count(d => d.Kind == "corrupt")} corrupt, {damage.Count(d => d.Kind == "missing")} missing, " +
                $"{damage.Count(d => d.Kind == "database")} database problems, {orphans} orphan files."));
            if (orphans > 0)
            {
                io.Hint("Orphan files hold no mail anyone can reach; the running server sweeps them.");
            }

            if (damage.Count > 0)
            {
                io.Hint("Damaged messages can be restored from a backup (rempart backup restore); see docs/monitoring/probe.md.");
                return ExitCodes.Failed;
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Rewrites one progress line on stderr, at most a few times a second.</summary>
    private sealed class ScrubProgressLine(TextWriter err) : IProgress<ScrubProgress>
    {
        private long _last;
        private bool _written;

        public void Report(ScrubProgress value)
        {
            var now = Environment.TickCount64;
            if (now - _last < 250 && value.Done != value.Total)
            {
                return;
            }

            _last = now;
            _written = true;
            err.Write(string.Create(CultureInfo.InvariantCulture, $"\rscrub: {value.Phase} {value.Done}/{value.Total}      "));
            err.Flush();
        }

        public void Finish()
        {
            if (_written)
            {
                err.WriteLine();
            }
        }
    }
}
