using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>Domains, accounts, aliases, groups, catch-all and send-as grants in SQLite.</summary>
internal sealed class SqliteDirectoryStore(SqliteMailStore store) : IDirectoryStore
{
    /// <summary>Deepest alias/group/catch-all chain followed when resolving a recipient.</summary>
    public const int MaxExpansionDepth = 10;

    /// <summary>Folders every new account gets, with their RFC 6154 SPECIAL-USE attributes.</summary>
    internal static readonly IReadOnlyList<(string Name, string? SpecialUse)> DefaultMailboxes =
    [
        ("INBOX", null),
        ("Drafts", @"\Drafts"),
        ("Sent", @"\Sent"),
        ("Trash", @"\Trash"),
        ("Junk", @"\Junk"),
        ("Archive", @"\Archive"),
    ];

    private const string AccountColumns =
        "id, address, password_hash, is_admin, disabled, max_bytes, max_messages, display_name, created";

    public Task<DomainRecord> AddDomainAsync(string name, CancellationToken ct = default)
    {
        var domain = Addresses.NormalizeDomain(name);
        return store.WriteAsync(op =>
        {
            if (op.Db.Long("SELECT id FROM domains WHERE name = @n", ("@n", domain)) is not null)
            {
                throw new StoreException($"domain {domain} already exists");
            }

            var created = Columns.Time(op.Now);
            var id = op.Db.Long("INSERT INTO domains(name, catch_all, created) VALUES(@n, NULL, @c) RETURNING id", ("@n", domain), ("@c", created))!.Value;
            return new DomainRecord(id, domain, null, Columns.Time(created));
        }, ct);
    }

    public Task<IReadOnlyList<DomainRecord>> ListDomainsAsync(CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<DomainRecord>>(db => db.Query("SELECT id, name, catch_all, created FROM domains ORDER BY name", ReadDomain), ct);

    public Task<bool> RemoveDomainAsync(string name, CancellationToken ct = default)
    {
        var domain = Addresses.NormalizeDomain(name);
        return store.WriteAsync(op =>
        {
            var id = op.Db.Long("SELECT id FROM domains WHERE name = @n", ("@n", domain));
            if (id is null)
            {
                return false;
            }

            var accounts = op.Db.Long("SELECT count(*) FROM accounts WHERE domain_id = @d", ("@d", id)) ?? 0;
            var aliases = op.Db.Long("SELECT count(*) FROM aliases WHERE domain_id = @d", ("@d", id)) ?? 0;
            if (accounts > 0 || aliases > 0)
            {
                throw new StoreException(
                    $"domain {domain} still has {accounts} account(s) and {aliases} alias(es)/group(s): remove them first");
            }

            op.Db.Exec("DELETE FROM domains WHERE id = @d", ("@d", id));
            return true;
        }, ct);
    }

    public Task SetCatchAllAsync(string domain, string? target, CancellationToken ct = default)
    {
        var name = Addresses.NormalizeDomain(domain);
        var normalizedTarget = target is null ? null : Addresses.Parse(target).Display;
        return store.WriteAsync(op =>
        {
            if (op.Db.Exec("UPDATE domains SET catch_all = @t WHERE name = @n", ("@t", normalizedTarget), ("@n", name)) == 0)
            {
                throw new StoreException($"domain {name} does not exist");
            }

            return true;
        }, ct);
    }

    public Task<bool> IsLocalDomainAsync(string domain, CancellationToken ct = default)
    {
        if (!Addresses.TryNormalizeDomain(domain, out var name))
        {
            return Task.FromResult(false);
        }

        return store.ReadAsync(db => db.Long("SELECT 1 FROM domains WHERE name = @n", ("@n", name)) is not null, ct);
    }

    public Task<AccountRecord> AddAccountAsync(NewAccount account, CancellationToken ct = default)
    {
        var address = Addresses.Parse(account.Address);
        ArgumentException.ThrowIfNullOrEmpty(account.PasswordHash);
        return store.WriteAsync(op =>
        {
            var db = op.Db;
            var domainId = db.Long("SELECT id FROM domains WHERE name = @n", ("@n", address.Domain))
                ?? throw new StoreException($"domain {address.Domain} is not a local domain: add it first");
            EnsureAddressFree(db, address);

            var created = Columns.Time(op.Now);
            var id = db.Long(
                """
                INSERT INTO accounts(domain_id, address, address_key, password_hash, is_admin, disabled, max_bytes, max_messages, display_name, created)
                VALUES(@d, @a, @k, @p, @admin, 0, @mb, @mm, @dn, @c) RETURNING id
                """,
                ("@d", domainId), ("@a", address.Display), ("@k", address.Key), ("@p", account.PasswordHash),
                ("@admin", account.IsAdmin ? 1 : 0), ("@mb", account.MaxBytes), ("@mm", account.MaxMessages),
                ("@dn", account.DisplayName), ("@c", created))!.Value;

            foreach (var (name, specialUse) in DefaultMailboxes)
            {
                SqliteMessageStore.InsertMailbox(op, id, name, specialUse);
            }

            return new AccountRecord(id, address.Display, account.PasswordHash, account.IsAdmin, false, account.MaxBytes, account.MaxMessages, account.DisplayName, Columns.Time(created));
        }, ct);
    }

    public Task<AccountRecord?> GetAccountAsync(string address, CancellationToken ct = default)
    {
        if (!Addresses.TryParse(address, out var parsed))
        {
            return Task.FromResult<AccountRecord?>(null);
        }

        return store.ReadAsync(db => db.Single($"SELECT {AccountColumns} FROM accounts WHERE address_key = @k", ReadAccount, ("@k", parsed.Key)), ct);
    }

    public Task<AccountRecord?> GetAccountAsync(long id, CancellationToken ct = default) =>
        store.ReadAsync(db => db.Single($"SELECT {AccountColumns} FROM accounts WHERE id = @id", ReadAccount, ("@id", id)), ct);

    public Task<IReadOnlyList<AccountRecord>> ListAccountsAsync(string? domain = null, CancellationToken ct = default)
    {
        if (domain is null)
        {
            return store.ReadAsync<IReadOnlyList<AccountRecord>>(db => db.Query($"SELECT {AccountColumns} FROM accounts ORDER BY address_key", ReadAccount), ct);
        }

        var name = Addresses.NormalizeDomain(domain);
        return store.ReadAsync<IReadOnlyList<AccountRecord>>(
            db => db.Query($"SELECT {AccountColumns} FROM accounts WHERE domain_id = (SELECT id FROM domains WHERE name = @n) ORDER BY address_key", ReadAccount, ("@n", name)),
            ct);
    }

    public Task SetPasswordHashAsync(long accountId, string passwordHash, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(passwordHash);
        return UpdateAccountAsync(accountId, "UPDATE accounts SET password_hash = @v WHERE id = @id", passwordHash, ct);
    }

    public Task SetDisabledAsync(long accountId, bool disabled, CancellationToken ct = default) =>
        UpdateAccountAsync(accountId, "UPDATE accounts SET disabled = @v WHERE id = @id", disabled ? 1 : 0, ct);

    public Task SetQuotaAsync(long accountId, long? maxBytes, long? maxMessages, CancellationToken ct = default)
    {
        if (maxBytes < 0 || maxMessages < 0)
        {
            throw new StoreException("a quota cannot be negative (use null for unlimited)");
        }

        return store.WriteAsync(op =>
        {
            if (op.Db.Exec("UPDATE accounts SET max_bytes = @b, max_messages = @m WHERE id = @id", ("@b", maxBytes), ("@m", maxMessages), ("@id", accountId)) == 0)
            {
                throw new StoreException($"account {accountId} does not exist");
            }

            return true;
        }, ct);
    }

    public Task<bool> RemoveAccountAsync(string address, CancellationToken ct = default)
    {
        if (!Addresses.TryParse(address, out var parsed))
        {
            return Task.FromResult(false);
        }

        return store.WriteAsync(op =>
        {
            var id = op.Db.Long("SELECT id FROM accounts WHERE address_key = @k", ("@k", parsed.Key));
            if (id is null)
            {
                return false;
            }

            foreach (var mailboxId in op.Db.Query("SELECT id FROM mailboxes WHERE account_id = @a", r => r.GetInt64(0), ("@a", id)))
            {
                SqliteMessageStore.DeleteMailboxRows(op, mailboxId);
            }

            op.Db.Exec("DELETE FROM accounts WHERE id = @a", ("@a", id));
            return true;
        }, ct);
    }

    public Task<AliasRecord> AddAliasAsync(string address, IReadOnlyList<string> targets, AliasKind kind, CancellationToken ct = default)
    {
        var parsed = Addresses.Parse(address);
        if (targets.Count == 0)
        {
            throw new StoreException($"alias {parsed.Display} needs at least one target");
        }

        if (!Enum.IsDefined(kind))
        {
            throw new StoreException($"unknown alias kind {kind}");
        }

        var parsedTargets = targets.Select(Addresses.Parse).ToList();
        return store.WriteAsync(op =>
        {
            var db = op.Db;
            var domainId = db.Long("SELECT id FROM domains WHERE name = @n", ("@n", parsed.Domain))
                ?? throw new StoreException($"domain {parsed.Domain} is not a local domain: add it first");
            EnsureAddressFree(db, parsed);
            var id = db.Long(
                "INSERT INTO aliases(domain_id, address, address_key, kind, created) VALUES(@d, @a, @k, @kind, @c) RETURNING id",
                ("@d", domainId), ("@a", parsed.Display), ("@k", parsed.Key), ("@kind", (int)kind), ("@c", Columns.Time(op.Now)))!.Value;
            for (var i = 0; i < parsedTargets.Count; i++)
            {
                db.Exec(
                    "INSERT INTO alias_targets(alias_id, position, target, target_key) VALUES(@id, @p, @t, @k)",
                    ("@id", id), ("@p", i), ("@t", parsedTargets[i].Display), ("@k", parsedTargets[i].Key));
            }

            return new AliasRecord(id, parsed.Display, kind, parsedTargets.Select(t => t.Display).ToList());
        }, ct);
    }

    public Task<IReadOnlyList<AliasRecord>> ListAliasesAsync(string? domain = null, CancellationToken ct = default)
    {
        string? name = domain is null ? null : Addresses.NormalizeDomain(domain);
        return store.ReadAsync<IReadOnlyList<AliasRecord>>(db =>
        {
            var rows = db.Query(
                """
                SELECT a.id, a.address, a.kind, t.target FROM aliases a
                JOIN alias_targets t ON t.alias_id = a.id
                WHERE @n IS NULL OR a.domain_id = (SELECT id FROM domains WHERE name = @n)
                ORDER BY a.address_key, t.position
                """,
                r => (Id: r.GetInt64(0), Address: r.GetString(1), Kind: (AliasKind)r.GetInt32(2), Target: r.GetString(3)),
                ("@n", name));
            return rows.GroupBy(r => r.Id)
                .Select(g => new AliasRecord(g.Key, g.First().Address, g.First().Kind, g.Select(r => r.Target).ToList()))
                .ToList();
        }, ct);
    }

    public Task<bool> RemoveAliasAsync(string address, CancellationToken ct = default)
    {
        if (!Addresses.TryParse(address, out var parsed))
        {
            return Task.FromResult(false);
        }

        return store.WriteAsync(op => op.Db.Exec("DELETE FROM aliases WHERE address_key = @k", ("@k", parsed.Key)) > 0, ct);
    }

    public Task GrantSendAsAsync(long accountId, string address, CancellationToken ct = default)
    {
        var parsed = Addresses.Parse(address);
        return store.WriteAsync(op =>
        {
            if (op.Db.Long("SELECT 1 FROM accounts WHERE id = @id", ("@id", accountId)) is null)
            {
                throw new StoreException($"account {accountId} does not exist");
            }

            op.Db.Exec("INSERT INTO send_as(account_id, address_key) VALUES(@id, @k) ON CONFLICT DO NOTHING", ("@id", accountId), ("@k", parsed.Key));
            return true;
        }, ct);
    }

    public Task<RecipientResolution> ResolveRecipientAsync(string address, CancellationToken ct = default)
    {
        if (!Addresses.TryParse(address, out var parsed))
        {
            return Task.FromResult(RecipientResolution.Unknown);
        }

        return store.ReadAsync(db => new Resolver(db).Resolve(parsed), ct);
    }

    public Task<bool> CanSendAsAsync(long accountId, string address, CancellationToken ct = default)
    {
        if (!Addresses.TryParse(address, out var parsed))
        {
            return Task.FromResult(false);
        }

        return store.ReadAsync(db =>
        {
            var own = db.Text("SELECT address_key FROM accounts WHERE id = @id AND disabled = 0", ("@id", accountId));
            if (own is null)
            {
                return false;
            }

            if (string.Equals(own, parsed.Key, StringComparison.Ordinal))
            {
                return true;
            }

            if (db.Long("SELECT 1 FROM send_as WHERE account_id = @id AND address_key = @k", ("@id", accountId), ("@k", parsed.Key)) is not null)
            {
                return true;
            }

            // An alias (not a group) that delivers to this account may be used as its sender address.
            return db.Long(
                """
                SELECT 1 FROM aliases a JOIN alias_targets t ON t.alias_id = a.id
                WHERE a.address_key = @k AND a.kind = @kind AND t.target_key = @own
                """,
                ("@k", parsed.Key), ("@kind", (int)AliasKind.Alias), ("@own", own)) is not null;
        }, ct);
    }

    private static void EnsureAddressFree(Db db, ParsedAddress address)
    {
        if (db.Long("SELECT 1 FROM accounts WHERE address_key = @k", ("@k", address.Key)) is not null)
        {
            throw new StoreException($"{address.Display} is already an account");
        }

        if (db.Long("SELECT 1 FROM aliases WHERE address_key = @k", ("@k", address.Key)) is not null)
        {
            throw new StoreException($"{address.Display} is already an alias or group");
        }
    }

    private Task<bool> UpdateAccountAsync(long accountId, string sql, object value, CancellationToken ct) =>
        store.WriteAsync(op =>
        {
            if (op.Db.Exec(sql, ("@v", value), ("@id", accountId)) == 0)
            {
                throw new StoreException($"account {accountId} does not exist");
            }

            return true;
        }, ct);

    private static DomainRecord ReadDomain(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.NullableString(2), Columns.Time(r.GetInt64(3)));

    private static AccountRecord ReadAccount(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3) != 0, r.GetInt64(4) != 0, r.NullableLong(5), r.NullableLong(6), r.NullableString(7), Columns.Time(r.GetInt64(8)));

    /// <summary>Recursive expansion of aliases, groups and catch-all, with a visited set (loops) and a depth limit.</summary>
    private sealed class Resolver(Db db)
    {
        private readonly List<long> _accounts = [];
        private readonly List<string> _forward = [];
        private readonly HashSet<string> _visited = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (bool Local, string? CatchAll)> _domains = new(StringComparer.Ordinal);
        private bool _disabled;

        public RecipientResolution Resolve(ParsedAddress address)
        {
            if (!Domain(address.Domain).Local)
            {
                return RecipientResolution.Remote;
            }

            Expand(address, 0);
            if (_accounts.Count > 0 || _forward.Count > 0)
            {
                return new RecipientResolution(RecipientStatus.Local, _accounts, _forward);
            }

            return _disabled ? new RecipientResolution(RecipientStatus.Disabled, [], []) : RecipientResolution.Unknown;
        }

        private void Expand(ParsedAddress address, int depth)
        {
            if (depth > MaxExpansionDepth || !_visited.Add(address.Key))
            {
                return;
            }

            var domain = Domain(address.Domain);
            if (!domain.Local)
            {
                _forward.Add(address.Display);
                return;
            }

            var account = db.Single(
                "SELECT id, disabled FROM accounts WHERE address_key = @k",
                r => new Tuple<long, bool>(r.GetInt64(0), r.GetInt64(1) != 0),
                ("@k", address.Key));
            if (account is not null)
            {
                if (account.Item2)
                {
                    _disabled = true;
                }
                else if (!_accounts.Contains(account.Item1))
                {
                    _accounts.Add(account.Item1);
                }

                return;
            }

            var targets = db.Query(
                "SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id WHERE a.address_key = @k ORDER BY t.position",
                r => r.GetString(0),
                ("@k", address.Key));
            if (targets.Count > 0)
            {
                foreach (var target in targets)
                {
                    if (Addresses.TryParse(target, out var parsed))
                    {
                        Expand(parsed, depth + 1);
                    }
                }

                return;
            }

            if (domain.CatchAll is { } catchAll && Addresses.TryParse(catchAll, out var catchAllAddress))
            {
                Expand(catchAllAddress, depth + 1);
            }
        }

        private (bool Local, string? CatchAll) Domain(string name)
        {
            if (!_domains.TryGetValue(name, out var domain))
            {
                var row = db.Single("SELECT catch_all FROM domains WHERE name = @n", r => new Tuple<string?>(r.NullableString(0)), ("@n", name));
                domain = row is null ? (false, null) : (true, row.Item1);
                _domains[name] = domain;
            }

            return domain;
        }
    }
}

/// <summary>An address split for storage: display form (local part as given, domain lower-case) and match key.</summary>
internal readonly record struct ParsedAddress(string Local, string Domain)
{
    public string Display => Local + "@" + Domain;

    public string Key => Local.ToLowerInvariant() + "@" + Domain;
}

internal static class Addresses
{
    public static ParsedAddress Parse(string address) =>
        TryParse(address, out var parsed) ? parsed : throw new StoreException($"not a valid address: '{address}'");

    public static bool TryParse(string? address, out ParsedAddress parsed)
    {
        parsed = default;
        if (string.IsNullOrWhiteSpace(address))
        {
            return false;
        }

        var trimmed = address.Trim();
        if (trimmed.Length > 2 && trimmed[0] == '<' && trimmed[^1] == '>')
        {
            trimmed = trimmed[1..^1];
        }

        var at = trimmed.LastIndexOf('@');
        if (at <= 0 || at == trimmed.Length - 1 || trimmed.Length > 320)
        {
            return false;
        }

        var local = trimmed[..at];
        if (local.Any(c => char.IsControl(c) || c == ' ') || !TryNormalizeDomain(trimmed[(at + 1)..], out var domain))
        {
            return false;
        }

        parsed = new ParsedAddress(local, domain);
        return true;
    }

    public static string NormalizeDomain(string domain) =>
        TryNormalizeDomain(domain, out var name) ? name : throw new StoreException($"not a valid domain name: '{domain}'");

    public static bool TryNormalizeDomain(string? domain, out string name)
    {
        name = (domain ?? string.Empty).Trim().TrimEnd('.').ToLowerInvariant();
        if (name.Length == 0 || name.Length > 253)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c is '@' or ' ' or '/' or '\\' || char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }
}
