using System.CommandLine;
using System.Globalization;
using System.Text;
using Rempart.Backup;
using Rempart.Backup.Export;
using Rempart.Backup.Imap;
using Rempart.Backup.Repository;
using Rempart.Backup.Snapshots;
using Spectre.Console;

namespace Rempart.Cli.Commands;

/// <summary>
/// <c>rempart backup init|create|list|verify|ls|diff|restore|prune|export|import</c>: encrypted, deduplicated
/// backups of the whole server (docs/backup.md). The passphrase comes from --key-file, REMPART_BACKUP_PASSPHRASE or
/// a prompt, never from an argument.
/// </summary>
internal static class BackupCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var shared = new Shared();
        var backup = new Command("backup", "Encrypted, deduplicated backups: create, list, verify, restore (docs/backup.md)");
        backup.Options.Add(shared.Repo);
        backup.Options.Add(shared.KeyFile);
        backup.Options.Add(shared.AppendOnly);
        backup.Subcommands.Add(Init(io, globals, shared));
        backup.Subcommands.Add(Create(io, globals, shared));
        backup.Subcommands.Add(List(io, globals, shared));
        backup.Subcommands.Add(Verify(io, globals, shared));
        backup.Subcommands.Add(Ls(io, globals, shared));
        backup.Subcommands.Add(Diff(io, globals, shared));
        backup.Subcommands.Add(Restore(io, globals, shared));
        backup.Subcommands.Add(Prune(io, globals, shared));
        backup.Subcommands.Add(Export(io, globals));
        backup.Subcommands.Add(Import(io, globals));
        backup.Subcommands.Add(Imap(io, globals, shared));
        backup.Subcommands.Add(ImapRestore(io, globals, shared));
        return backup;
    }

    /// <summary>Options every repository command takes.</summary>
    private sealed class Shared
    {
        public Option<string?> Repo { get; } = new("--repo") { Description = "Backup repository folder [default: backup.repository from the configuration]", HelpName = "DIR", Recursive = true };

        public Option<string?> KeyFile { get; } = new("--key-file") { Description = "File holding the passphrase [default: backup.keyFile, else REMPART_BACKUP_PASSPHRASE, else a prompt]", HelpName = "FILE", Recursive = true };

        public Option<bool> AppendOnly { get; } = new("--append-only") { Description = "Refuse anything that deletes or rewrites repository data (also backup.appendOnly)", Recursive = true };
    }

    private static void Set(Command command, CliIo io, GlobalOptions globals, Func<CliContext, CancellationToken, Task<int>> body) =>
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            try
            {
                return await body(ctx, ct);
            }
            catch (BackupException ex)
            {
                throw new CliException(ExitCodes.Failed, ex.Message);
            }
        });

    private static string RepoPath(CliContext ctx, Shared shared) =>
        ctx.Parse.GetValue(shared.Repo) is { Length: > 0 } r ? Path.GetFullPath(r)
        : ctx.Options.Backup.Repository is { Length: > 0 } c ? Path.GetFullPath(c)
        : throw CliException.Usage("no backup repository: pass --repo DIR or set backup.repository in the configuration");

    private static async Task<byte[]> PassphraseAsync(CliContext ctx, Shared shared, bool confirm, CancellationToken ct)
    {
        var keyFile = ctx.Parse.GetValue(shared.KeyFile) is { Length: > 0 } k ? k : ctx.Options.Backup.KeyFile;
        if (BackupSecrets.Resolve(keyFile) is { } fromSource)
        {
            return fromSource;
        }

        if (!ctx.Io.Host.IsInputTerminal)
        {
            throw CliException.Usage($"no backup passphrase: set {BackupSecrets.EnvironmentVariable}, pass --key-file FILE, set backup.keyFile, or run on a terminal to be prompted.");
        }

        var first = ReadHidden(ctx.Io.Err, "Backup passphrase: ");
        if (confirm && ReadHidden(ctx.Io.Err, "Repeat passphrase: ") != first)
        {
            throw CliException.Usage("the passphrases differ; nothing was created.");
        }

        await Task.CompletedTask;
        ct.ThrowIfCancellationRequested();
        return string.IsNullOrEmpty(first) ? throw CliException.Usage("empty passphrase") : Encoding.UTF8.GetBytes(first);
    }

    private static string ReadHidden(TextWriter prompt, string text)
    {
        prompt.Write(text);
        prompt.Flush();
        var line = new StringBuilder();
        while (line.Length <= 4096)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (line.Length > 0)
                {
                    line.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                line.Append(key.KeyChar);
            }
        }

        prompt.WriteLine();
        return line.ToString();
    }

    private static async Task<BackupRepository> OpenRepoAsync(CliContext ctx, Shared shared, CancellationToken ct)
    {
        var path = RepoPath(ctx, shared);
        var passphrase = await PassphraseAsync(ctx, shared, confirm: false, ct);
        var repo = BackupRepository.Open(path, passphrase);
        repo.ClientAppendOnly = ctx.Parse.GetValue(shared.AppendOnly) || ctx.Options.Backup.AppendOnly;
        return repo;
    }

    private static Command Init(CliIo io, GlobalOptions globals, Shared shared)
    {
        var command = new Command("init", "Create an empty encrypted repository (the passphrase cannot be recovered: keep it safe)");
        Set(command, io, globals, async (ctx, ct) =>
        {
            var path = RepoPath(ctx, shared);
            var passphrase = await PassphraseAsync(ctx, shared, confirm: true, ct);
            var appendOnly = ctx.Parse.GetValue(shared.AppendOnly);
            using var repo = BackupRepository.Init(path, passphrase, appendOnly, io.Host.Time.GetUtcNow());
            io.Line($"Created backup repository {repo.Root} (id {repo.Config.Id[..8]}{(appendOnly ? ", append-only" : "")}).");
            io.Hint("Without the passphrase or key file nothing in it can be read: store it apart from the server.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Create(CliIo io, GlobalOptions globals, Shared shared)
    {
        var tag = new Option<string?>("--tag") { Description = "A label stored with the snapshot", HelpName = "TEXT" };
        var command = new Command("create", "Take a consistent snapshot of the data folder while the server runs (incremental)") { tag };
        Set(command, io, globals, async (ctx, ct) =>
        {
            if (!ctx.DataExists)
            {
                throw CliException.Failed($"no Rempart data in {ctx.DataDir} (rempart.db is missing); pass --data DIR");
            }

            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var creator = new SnapshotCreator(repo, io.Host.Time);
            var manifest = await WithProgressAsync(io, "Backing up", p => creator.CreateAsync(ctx.DataDir, ctx.ConfigPath, ctx.Parse.GetValue(tag), p, ct));
            var s = manifest.Stats;
            io.KeyValues(
            [
                ("Snapshot", manifest.Id[..8] + "  " + Formats.Time(manifest.Time)),
                ("Messages", $"{Formats.Count(s.Messages)} ({Formats.Count(s.Blobs)} bodies) in {Formats.Count(manifest.Mailboxes.Count)} folders of {Formats.Count(manifest.Accounts.Count)} accounts"),
                ("Files", Formats.Count(s.Files)),
                ("Total", Formats.Bytes(s.TotalBytes)),
                ("Read", Formats.Bytes(s.ReadBytes)),
                ("New data", $"{Formats.Bytes(s.NewBytes)} in {Formats.Count(s.NewChunks)} chunks"),
                ("Deduplicated", Formats.Bytes(s.DeduplicatedBytes)),
                ("Duration", s.DurationSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"),
            ]);
            if (s.MissingBlobs.Count > 0)
            {
                io.Hint($"warning: {s.MissingBlobs.Count} message bodies were deleted while the snapshot was taken; those messages are not in it.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliIo io, GlobalOptions globals, Shared shared)
    {
        var command = new Command("list", "List the snapshots, oldest first");
        Set(command, io, globals, async (ctx, ct) =>
        {
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var (snapshots, damaged) = repo.ReadAllSnapshots();
            if (snapshots.Count == 0 && damaged.Count == 0)
            {
                io.Hint("The repository has no snapshot yet; make one with: rempart backup create");
                return ExitCodes.Ok;
            }

            io.Table(
                ["ID", "TIME", "KIND", "HOST", "ACCOUNTS", "MESSAGES", "SIZE", "TAG"],
                snapshots.Select(s => (IReadOnlyList<string>)
                [
                    s.ShortId, Formats.Time(s.Time), s.Kind, s.Host, Formats.Count(s.Accounts.Count), Formats.Count(s.Messages.Count), Formats.Bytes(s.Stats.TotalBytes), s.Tag ?? "",
                ]));
            foreach (var (id, error) in damaged)
            {
                io.Hint($"warning: snapshot {id[..8]} cannot be read: {error}");
            }

            return damaged.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static Command Verify(CliIo io, GlobalOptions globals, Shared shared)
    {
        var percent = new Option<double>("--percent") { Description = "Read and authenticate this share of the chunks, chosen at random (missing chunks are always found)", DefaultValueFactory = _ => 100, HelpName = "N" };
        var command = new Command("verify", "Authenticate every chunk (or --percent of them) and check each snapshot's index") { percent };
        Set(command, io, globals, async (ctx, ct) =>
        {
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var report = await WithProgressAsync(io, "Verifying", p => new Verifier(repo).VerifyAsync(ctx.Parse.GetValue(percent), p, ct));
            io.Line($"Checked {Formats.Count(report.CheckedChunks)} of {Formats.Count(report.ReferencedChunks)} chunks ({Formats.Bytes(report.CheckedBytes)}) in {Formats.Count(report.Snapshots)} snapshots; {Formats.Count(report.UnreferencedChunks)} unreferenced (removed by prune).");
            foreach (var problem in report.SnapshotProblems)
            {
                io.Line("problem: " + problem);
            }

            foreach (var d in report.Damaged)
            {
                io.Line($"damaged chunk {d.ChunkId[..16]}: {d.Error}");
                foreach (var a in d.Affected)
                {
                    io.Line("  affects " + a);
                }
            }

            if (!report.Ok)
            {
                io.Hint($"Verification FAILED: {report.Damaged.Count} damaged chunks, {report.SnapshotProblems.Count} index problems. The next backup re-stores bodies still on the server; messages only in old snapshots are lost from those snapshots.");
                return ExitCodes.Failed;
            }

            io.Line("No problems found.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Argument<string> SnapshotArgument(string name = "SNAPSHOT") =>
        new(name) { Description = "Snapshot id (at least 4 leading digits, see rempart backup list) or 'latest'" };

    private static (string Account, string? Folder) SplitPath(string path)
    {
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (path, null) : (path[..slash], path[(slash + 1)..] is { Length: > 0 } f ? f : null);
    }

    private static Command Ls(CliIo io, GlobalOptions globals, Shared shared)
    {
        var snapshot = SnapshotArgument();
        var path = new Argument<string?>("PATH") { Description = "ACCOUNT or ACCOUNT/FOLDER, e.g. alice@example.com/INBOX", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("ls", "Browse a snapshot: accounts, an account's folders, or a folder's messages") { snapshot, path };
        Set(command, io, globals, async (ctx, ct) =>
        {
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var s = repo.FindSnapshot(ctx.Parse.GetRequiredValue(snapshot));
            var p = ctx.Parse.GetValue(path);
            if (string.IsNullOrEmpty(p))
            {
                io.Table(
                    ["ACCOUNT", "FOLDERS", "MESSAGES", "SIZE"],
                    s.Accounts.Select(a =>
                    {
                        var boxes = s.Mailboxes.Where(m => m.AccountId == a.Id).Select(m => m.Id).ToHashSet();
                        var msgs = s.Messages.Where(m => boxes.Contains(m.MailboxId)).ToList();
                        return (IReadOnlyList<string>)[a.Address, Formats.Count(boxes.Count), Formats.Count(msgs.Count), Formats.Bytes(msgs.Sum(m => m.Size))];
                    }));
                foreach (var f in s.Files)
                {
                    io.Hint($"file {f.Path} ({Formats.Bytes(f.Size)})");
                }

                return ExitCodes.Ok;
            }

            var (accountName, folder) = SplitPath(p);
            var account = s.Accounts.FirstOrDefault(a => string.Equals(a.Address, accountName, StringComparison.OrdinalIgnoreCase))
                ?? throw CliException.Failed($"snapshot {s.ShortId} has no account {accountName}; list accounts with: rempart backup ls {s.ShortId}");
            var mailboxes = s.Mailboxes.Where(m => m.AccountId == account.Id).ToList();
            if (folder is null)
            {
                io.Table(
                    ["FOLDER", "UIDVALIDITY", "UIDNEXT", "MESSAGES", "SIZE"],
                    mailboxes.Select(m =>
                    {
                        var msgs = s.Messages.Where(x => x.MailboxId == m.Id).ToList();
                        return (IReadOnlyList<string>)[m.Name, m.UidValidity.ToString(CultureInfo.InvariantCulture), m.UidNext.ToString(CultureInfo.InvariantCulture), Formats.Count(msgs.Count), Formats.Bytes(msgs.Sum(x => x.Size))];
                    }));
                return ExitCodes.Ok;
            }

            var box = mailboxes.FirstOrDefault(m => SnapshotRestorer.SameFolder(m.Name, folder))
                ?? throw CliException.Failed($"snapshot {s.ShortId} has no folder {folder} in {account.Address}; list folders with: rempart backup ls {s.ShortId} {account.Address}");
            io.Table(
                ["UID", "SIZE", "DATE", "FLAGS", "MESSAGE-ID"],
                s.Messages.Where(m => m.MailboxId == box.Id).Select(m => (IReadOnlyList<string>)
                [
                    m.Uid.ToString(CultureInfo.InvariantCulture), Formats.Bytes(m.Size), Formats.Time(DateTimeOffset.FromUnixTimeMilliseconds(m.InternalDate)), m.Flags, m.MessageId ?? "",
                ]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Diff(CliIo io, GlobalOptions globals, Shared shared)
    {
        var a = SnapshotArgument("A");
        var b = SnapshotArgument("B");
        var command = new Command("diff", "Show what changed between two snapshots: messages added, removed or re-flagged, files changed") { a, b };
        Set(command, io, globals, async (ctx, ct) =>
        {
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var from = repo.FindSnapshot(ctx.Parse.GetRequiredValue(a));
            var to = repo.FindSnapshot(ctx.Parse.GetRequiredValue(b));
            var diff = SnapshotDiff.Compare(from, to);
            foreach (var line in diff.Lines)
            {
                io.Line(line);
            }

            io.Hint($"{diff.Added} added, {diff.Removed} removed, {diff.FlagsChanged} re-flagged messages; {diff.FilesChanged} files changed.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Restore(CliIo io, GlobalOptions globals, Shared shared)
    {
        var snapshot = SnapshotArgument();
        var what = new Argument<string?>("WHAT") { Description = "ACCOUNT or ACCOUNT/FOLDER to restore into the running server's store; omit for a full restore into --target", Arity = ArgumentArity.ZeroOrOne };
        var target = new Option<string?>("--target") { Description = "Full restore: an EMPTY folder that becomes the new data folder", HelpName = "DIR" };
        var uid = new Option<long?>("--uid") { Description = "Restore one message (with ACCOUNT/FOLDER)", HelpName = "N" };
        var to = new Option<string?>("--to") { Description = "Restore into this account instead of the original one", HelpName = "ACCOUNT" };
        var folder = new Option<string?>("--folder") { Description = "Restore into this folder [default: \"Restored/<snapshot time> <folder>\"]", HelpName = "NAME" };
        var command = new Command("restore", "Restore everything into an empty data folder, or one account, folder or message into the store") { snapshot, what, target, uid, to, folder };
        Set(command, io, globals, async (ctx, ct) =>
        {
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var s = repo.FindSnapshot(ctx.Parse.GetRequiredValue(snapshot));
            var restorer = new SnapshotRestorer(repo);
            if (ctx.Parse.GetValue(what) is not { Length: > 0 } selection)
            {
                var dir = ctx.Parse.GetValue(target) ?? throw CliException.Usage("give --target DIR (an empty folder) for a full restore, or ACCOUNT[/FOLDER] to restore mail into the store");
                var result = await WithProgressAsync(io, "Restoring", p => restorer.RestoreAllAsync(s, dir, p, ct));
                io.Line($"Restored snapshot {s.ShortId} ({Formats.Time(s.Time)}) into {Path.GetFullPath(dir)}: {Formats.Count(result.Messages)} messages, {Formats.Count(result.Blobs)} bodies, {Formats.Count(result.Files)} files, {Formats.Bytes(result.Bytes)}.");
                io.Hint($"Start the server on it with: rempart serve --data {Path.GetFullPath(dir)}");
                return ExitCodes.Ok;
            }

            if (ctx.Parse.GetValue(target) is not null)
            {
                throw CliException.Usage("--target is for a full restore; with ACCOUNT[/FOLDER] the mail goes into the store of --data");
            }

            var (account, folderName) = SplitPath(selection);
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var restored = await restorer.RestoreMessagesAsync(s, store, new RestoreSelection(account, folderName, ctx.Parse.GetValue(uid), ctx.Parse.GetValue(to), ctx.Parse.GetValue(folder)), ct);
            io.Line($"Restored {Formats.Count(restored.Messages)} messages ({Formats.Bytes(restored.Bytes)}) from snapshot {s.ShortId} into {ctx.Parse.GetValue(to) ?? account}: {string.Join(", ", restored.Folders)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Prune(CliIo io, GlobalOptions globals, Shared shared)
    {
        Option<int?> Keep(string name, string what) => new($"--keep-{name}") { Description = $"Keep the newest snapshot of each of the last N {what} [default: backup.keep{char.ToUpperInvariant(name[0])}{name[1..]}]", HelpName = "N" };
        var last = new Option<int?>("--keep-last") { Description = "Keep the N newest snapshots [default: backup.keepLast]", HelpName = "N" };
        var hourly = Keep("hourly", "hours");
        var daily = Keep("daily", "days");
        var weekly = Keep("weekly", "weeks");
        var monthly = Keep("monthly", "months");
        var dryRun = new Option<bool>("--dry-run") { Description = "Only say what would be removed" };
        var command = new Command("prune", "Forget snapshots outside the retention policy and delete data no snapshot uses") { last, hourly, daily, weekly, monthly, dryRun };
        Set(command, io, globals, async (ctx, ct) =>
        {
            var o = ctx.Options.Backup;
            var policy = new RetentionPolicy(
                ctx.Parse.GetValue(last) ?? o.KeepLast,
                ctx.Parse.GetValue(hourly) ?? o.KeepHourly,
                ctx.Parse.GetValue(daily) ?? o.KeepDaily,
                ctx.Parse.GetValue(weekly) ?? o.KeepWeekly,
                ctx.Parse.GetValue(monthly) ?? o.KeepMonthly);
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var report = new Pruner(repo).Prune(policy, ctx.Parse.GetValue(dryRun));
            foreach (var s in report.Removed)
            {
                io.Line($"{(report.DryRun ? "would remove" : "removed")} snapshot {s.ShortId} {Formats.Time(s.Time)}");
            }

            io.Line($"{(report.DryRun ? "Would keep" : "Kept")} {Formats.Count(report.Kept.Count)} snapshots; {(report.DryRun ? "would delete" : "deleted")} {Formats.Count(report.RemovedChunks)} chunks ({Formats.Bytes(report.FreedBytes)}).");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Export(CliIo io, GlobalOptions globals)
    {
        var path = new Argument<string>("ACCOUNT[/FOLDER]") { Description = "Account, or one folder of it" };
        var format = new Option<string>("--format") { Description = "mbox (one file per folder) or maildir (cur/new/tmp per folder)", DefaultValueFactory = _ => "mbox", HelpName = "mbox|maildir" };
        var output = new Option<string>("--out") { Description = "Output folder (created; must not exist or be empty)", Required = true, HelpName = "DIR" };
        var command = new Command("export", "Export an account or folder from the store as mbox or Maildir, which other servers and clients import") { path, format, output };
        Set(command, io, globals, async (ctx, ct) =>
        {
            var (account, folder) = SplitPath(ctx.Parse.GetRequiredValue(path));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var result = await MailExporter.ExportAsync(store, account, folder, ParseFormat(ctx.Parse.GetRequiredValue(format)), ctx.Parse.GetRequiredValue(output), ct);
            io.Line($"Exported {Formats.Count(result.Messages)} messages from {Formats.Count(result.Folders)} folders to {Path.GetFullPath(ctx.Parse.GetRequiredValue(output))}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Import(CliIo io, GlobalOptions globals)
    {
        var path = new Argument<string>("ACCOUNT[/FOLDER]") { Description = "Account to import into; with /FOLDER everything goes into that folder" };
        var format = new Option<string>("--format") { Description = "mbox (a file, or a folder of .mbox files) or maildir (a Maildir++ folder)", DefaultValueFactory = _ => "mbox", HelpName = "mbox|maildir" };
        var input = new Option<string>("--in") { Description = "File or folder to import", Required = true, HelpName = "PATH" };
        var command = new Command("import", "Import mbox or Maildir mail into an account (appended; nothing existing is touched)") { path, format, input };
        Set(command, io, globals, async (ctx, ct) =>
        {
            var (account, folder) = SplitPath(ctx.Parse.GetRequiredValue(path));
            await using var store = await ctx.OpenStoreAsync(create: false, ct);
            var result = await MailExporter.ImportAsync(store, account, folder, ParseFormat(ctx.Parse.GetRequiredValue(format)), ctx.Parse.GetRequiredValue(input), ct);
            io.Line($"Imported {Formats.Count(result.Messages)} messages into {Formats.Count(result.Folders)} folders of {account}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Options naming an IMAP account; the password comes from REMPART_IMAP_PASSWORD or --password-file.</summary>
    private sealed class ImapOptions
    {
        public const string PasswordVariable = "REMPART_IMAP_PASSWORD";

        public Option<string> Host { get; } = new("--host") { Description = "IMAP server", Required = true, HelpName = "HOST" };

        public Option<int> Port { get; } = new("--port") { Description = "IMAP port [default: 993 with --tls ssl, else 143]", HelpName = "N" };

        public Option<string> Tls { get; } = new("--tls") { Description = "ssl, starttls or none", DefaultValueFactory = _ => "ssl", HelpName = "ssl|starttls|none" };

        public Option<string> User { get; } = new("--user") { Description = "IMAP login", Required = true, HelpName = "LOGIN" };

        public Option<string?> PasswordFile { get; } = new("--password-file") { Description = $"File holding the IMAP password [default: {PasswordVariable}]", HelpName = "FILE" };

        public void AddTo(Command command)
        {
            command.Options.Add(Host);
            command.Options.Add(Port);
            command.Options.Add(Tls);
            command.Options.Add(User);
            command.Options.Add(PasswordFile);
        }

        public ImapSource Resolve(CliContext ctx)
        {
            var security = ctx.Parse.GetRequiredValue(Tls).ToLowerInvariant() switch
            {
                "ssl" => MailKit.Security.SecureSocketOptions.SslOnConnect,
                "starttls" => MailKit.Security.SecureSocketOptions.StartTls,
                "none" => MailKit.Security.SecureSocketOptions.None,
                var other => throw CliException.Usage($"--tls '{other}': use ssl, starttls or none"),
            };
            var port = ctx.Parse.GetValue(Port) is > 0 and var p ? p : security == MailKit.Security.SecureSocketOptions.SslOnConnect ? 993 : 143;
            var password = ctx.Parse.GetValue(PasswordFile) is { Length: > 0 } file
                ? Encoding.UTF8.GetString(BackupSecrets.ReadKeyFile(file))
                : Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } env ? env
                : throw CliException.Usage($"no IMAP password: set {PasswordVariable} or pass --password-file FILE");
            return new ImapSource(ctx.Parse.GetRequiredValue(Host), port, security, ctx.Parse.GetRequiredValue(User), password);
        }
    }

    private static Command Imap(CliIo io, GlobalOptions globals, Shared shared)
    {
        var imap = new ImapOptions();
        var command = new Command("imap", "Copy every folder of a remote IMAP account into the repository (incremental by UIDVALIDITY/UID, Message-ID de-duplication)");
        imap.AddTo(command);
        Set(command, io, globals, async (ctx, ct) =>
        {
            var source = imap.Resolve(ctx);
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var backup = new ImapBackup(repo, io.Host.Time);
            var s = await backup.BackupAsync(source, ct);
            io.KeyValues(
            [
                ("Snapshot", s.Id[..8] + "  " + Formats.Time(s.Time)),
                ("Source", source.Label),
                ("Messages", $"{Formats.Count(s.Messages.Count)} in {Formats.Count(s.Mailboxes.Count)} folders"),
                ("Downloaded", Formats.Count(backup.Downloaded)),
                ("New data", Formats.Bytes(s.Stats.NewBytes)),
                ("Deduplicated", Formats.Bytes(s.Stats.DeduplicatedBytes)),
                ("Duration", s.Stats.DurationSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"),
            ]);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command ImapRestore(CliIo io, GlobalOptions globals, Shared shared)
    {
        var imap = new ImapOptions();
        var snapshot = SnapshotArgument();
        var what = new Argument<string>("ACCOUNT[/FOLDER]") { Description = "Account (and folder) in the snapshot" };
        var folder = new Option<string?>("--folder") { Description = "Target folder [default: \"Restored/<snapshot time> <folder>\"]", HelpName = "NAME" };
        var command = new Command("imap-restore", "Put an account or folder from a snapshot into any IMAP server (appended; nothing there is overwritten)") { snapshot, what, folder };
        imap.AddTo(command);
        Set(command, io, globals, async (ctx, ct) =>
        {
            var target = imap.Resolve(ctx);
            using var repo = await OpenRepoAsync(ctx, shared, ct);
            var s = repo.FindSnapshot(ctx.Parse.GetRequiredValue(snapshot));
            var (account, folderName) = SplitPath(ctx.Parse.GetRequiredValue(what));
            var count = await new ImapBackup(repo, io.Host.Time).RestoreToImapAsync(s, account, folderName, ctx.Parse.GetValue(folder), target, ct);
            io.Line($"Appended {Formats.Count(count)} messages to {target.Label}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static MailFormat ParseFormat(string value) => value.ToLowerInvariant() switch
    {
        "mbox" => MailFormat.Mbox,
        "maildir" => MailFormat.Maildir,
        _ => throw CliException.Usage($"--format '{value}': use mbox or maildir"),
    };

    /// <summary>A progress bar on stderr when it is a terminal; silent otherwise (scripts read the summary).</summary>
    private static async Task<T> WithProgressAsync<T>(CliIo io, string title, Func<IProgress<BackupProgress>?, Task<T>> run)
    {
        if (!io.Host.IsTerminal)
        {
            return await run(null);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(io.Err) });
        T result = default!;
        await console.Progress().AutoClear(true).StartAsync(async ctx =>
        {
            var task = ctx.AddTask(title, maxValue: 1);
            var progress = new Progress<BackupProgress>(p =>
            {
                task.Description = $"{title}: {p.Phase}";
                task.MaxValue = Math.Max(1, p.Total);
                task.Value = p.Done;
            });
            result = await run(progress);
            task.Value = task.MaxValue;
        });
        return result;
    }
}
