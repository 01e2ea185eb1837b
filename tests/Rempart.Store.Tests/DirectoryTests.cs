namespace Rempart.Store.Tests;

public sealed class DirectoryTests
{
    [Fact]
    public async Task Domains_are_stored_lower_case_and_unique()
    {
        await using var t = await TempStore.CreateAsync();
        var d = await t.Store.Directory.AddDomainAsync("Example.COM");
        Assert.Equal("example.com", d.Name);
        Assert.True(await t.Store.Directory.IsLocalDomainAsync("EXAMPLE.com"));
        Assert.False(await t.Store.Directory.IsLocalDomainAsync("other.com"));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.AddDomainAsync("example.com"));
        Assert.Single(await t.Store.Directory.ListDomainsAsync());
    }

    [Fact]
    public async Task New_account_gets_inbox_and_special_use_folders()
    {
        await using var t = await TempStore.CreateAsync();
        var account = await t.AddAccountAsync("Bob.Smith@Example.com");
        Assert.Equal("Bob.Smith@example.com", account.Address);

        var boxes = await t.Store.Messages.ListMailboxesAsync(account.Id);
        var map = boxes.ToDictionary(b => b.Name, b => b.SpecialUse);
        Assert.Equal(6, map.Count);
        Assert.Null(map["INBOX"]);
        Assert.Equal(@"\Drafts", map["Drafts"]);
        Assert.Equal(@"\Sent", map["Sent"]);
        Assert.Equal(@"\Trash", map["Trash"]);
        Assert.Equal(@"\Junk", map["Junk"]);
        Assert.Equal(@"\Archive", map["Archive"]);
        Assert.Equal(6, boxes.Select(b => b.UidValidity).Distinct().Count());

        // Addresses match case-insensitively.
        var found = await t.Store.Directory.GetAccountAsync("bob.smith@EXAMPLE.COM");
        Assert.Equal(account.Id, found!.Id);
        Assert.NotNull(await t.Store.Messages.GetMailboxAsync(account.Id, "inbox"));
    }

    [Fact]
    public async Task Account_needs_a_local_domain_and_a_free_address()
    {
        await using var t = await TempStore.CreateAsync();
        var ex = await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.AddAccountAsync(new NewAccount("a@nowhere.test", "h")));
        Assert.Contains("add it first", ex.Message, StringComparison.Ordinal);
        await t.AddAccountAsync("a@example.com");
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.AddAccountAsync(new NewAccount("A@example.com", "h")));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.AddAliasAsync("a@EXAMPLE.com", ["x@example.com"], AliasKind.Alias));
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.AddAccountAsync(new NewAccount("not-an-address", "h")));
    }

    [Fact]
    public async Task Removing_a_domain_in_use_is_refused_with_what_to_remove()
    {
        await using var t = await TempStore.CreateAsync();
        await t.AddAccountAsync("a@example.com");
        await t.Store.Directory.AddAliasAsync("sales@example.com", ["a@example.com"], AliasKind.Alias);

        var ex = await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.RemoveDomainAsync("example.com"));
        Assert.Contains("1 account", ex.Message, StringComparison.Ordinal);
        Assert.Contains("1 alias", ex.Message, StringComparison.Ordinal);
        Assert.Contains("remove them first", ex.Message, StringComparison.Ordinal);

        Assert.True(await t.Store.Directory.RemoveAliasAsync("sales@example.com"));
        Assert.True(await t.Store.Directory.RemoveAccountAsync("a@example.com"));
        Assert.True(await t.Store.Directory.RemoveDomainAsync("example.com"));
        Assert.False(await t.Store.Directory.RemoveDomainAsync("example.com"));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task Resolves_accounts_aliases_groups_and_remote_targets()
    {
        await using var t = await TempStore.CreateAsync();
        var alice = await t.AddAccountAsync("alice@example.com");
        var bob = await t.AddAccountAsync("bob@example.com");
        await t.Store.Directory.AddAliasAsync("info@example.com", ["Alice@Example.com"], AliasKind.Alias);
        await t.Store.Directory.AddAliasAsync("team@example.com", ["info@example.com", "bob@example.com", "partner@remote.test", "alice@example.com"], AliasKind.Group);

        var direct = await t.Store.Directory.ResolveRecipientAsync("ALICE@example.com");
        Assert.Equal(RecipientStatus.Local, direct.Status);
        Assert.Equal([alice.Id], direct.AccountIds);

        var team = await t.Store.Directory.ResolveRecipientAsync("Team@example.com");
        Assert.Equal(RecipientStatus.Local, team.Status);
        Assert.Equal([alice.Id, bob.Id], team.AccountIds);
        Assert.Equal(["partner@remote.test"], team.ForwardTo);

        Assert.Equal(RecipientStatus.UnknownLocal, (await t.Store.Directory.ResolveRecipientAsync("nobody@example.com")).Status);
        Assert.Equal(RecipientStatus.Remote, (await t.Store.Directory.ResolveRecipientAsync("someone@remote.test")).Status);

        var aliases = await t.Store.Directory.ListAliasesAsync("example.com");
        Assert.Equal(2, aliases.Count);
        Assert.Equal(AliasKind.Group, aliases.Single(a => a.Address == "team@example.com").Kind);
        Assert.Equal(4, aliases.Single(a => a.Address == "team@example.com").Targets.Count);
    }

    [Fact]
    public async Task Catch_all_receives_unknown_local_parts()
    {
        await using var t = await TempStore.CreateAsync();
        var alice = await t.AddAccountAsync("alice@example.com");
        await t.Store.Directory.SetCatchAllAsync("example.com", "alice@example.com");

        var r = await t.Store.Directory.ResolveRecipientAsync("whatever@example.com");
        Assert.Equal(RecipientStatus.Local, r.Status);
        Assert.Equal([alice.Id], r.AccountIds);
        Assert.Equal("alice@example.com", (await t.Store.Directory.ListDomainsAsync())[0].CatchAll);

        await t.Store.Directory.SetCatchAllAsync("example.com", null);
        Assert.Equal(RecipientStatus.UnknownLocal, (await t.Store.Directory.ResolveRecipientAsync("whatever@example.com")).Status);
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.SetCatchAllAsync("missing.test", "a@missing.test"));
    }

    [Fact]
    public async Task Alias_loops_are_cut_and_long_chains_stop_at_the_depth_limit()
    {
        await using var t = await TempStore.CreateAsync();
        var alice = await t.AddAccountAsync("alice@example.com");
        await t.Store.Directory.AddAliasAsync("a@example.com", ["b@example.com"], AliasKind.Alias);
        await t.Store.Directory.AddAliasAsync("b@example.com", ["a@example.com", "alice@example.com"], AliasKind.Group);
        var loop = await t.Store.Directory.ResolveRecipientAsync("a@example.com");
        Assert.Equal(RecipientStatus.Local, loop.Status);
        Assert.Equal([alice.Id], loop.AccountIds);

        await t.Store.Directory.AddAliasAsync("x@example.com", ["y@example.com"], AliasKind.Alias);
        await t.Store.Directory.AddAliasAsync("y@example.com", ["x@example.com"], AliasKind.Alias);
        Assert.Equal(RecipientStatus.UnknownLocal, (await t.Store.Directory.ResolveRecipientAsync("x@example.com")).Status);

        // A chain longer than the depth limit never reaches its end.
        for (var i = 0; i < 15; i++)
        {
            await t.Store.Directory.AddAliasAsync($"c{i}@example.com", [$"c{i + 1}@example.com"], AliasKind.Alias);
        }

        await t.Store.Directory.AddAliasAsync("c15@example.com", ["alice@example.com"], AliasKind.Alias);
        Assert.Equal(RecipientStatus.UnknownLocal, (await t.Store.Directory.ResolveRecipientAsync("c0@example.com")).Status);
        Assert.Equal([alice.Id], (await t.Store.Directory.ResolveRecipientAsync("c8@example.com")).AccountIds);
    }

    [Fact]
    public async Task Disabled_accounts_resolve_as_disabled()
    {
        await using var t = await TempStore.CreateAsync();
        var alice = await t.AddAccountAsync("alice@example.com");
        var bob = await t.AddAccountAsync("bob@example.com");
        await t.Store.Directory.AddAliasAsync("both@example.com", ["alice@example.com", "bob@example.com"], AliasKind.Group);
        await t.Store.Directory.SetDisabledAsync(alice.Id, true);

        Assert.True((await t.Store.Directory.GetAccountAsync(alice.Id))!.Disabled);
        Assert.Equal(RecipientStatus.Disabled, (await t.Store.Directory.ResolveRecipientAsync("alice@example.com")).Status);
        var both = await t.Store.Directory.ResolveRecipientAsync("both@example.com");
        Assert.Equal(RecipientStatus.Local, both.Status);
        Assert.Equal([bob.Id], both.AccountIds);

        await t.Store.Directory.SetDisabledAsync(alice.Id, false);
        Assert.Equal(RecipientStatus.Local, (await t.Store.Directory.ResolveRecipientAsync("alice@example.com")).Status);
    }

    [Fact]
    public async Task Send_as_covers_own_address_aliases_and_grants()
    {
        await using var t = await TempStore.CreateAsync();
        var alice = await t.AddAccountAsync("alice@example.com");
        await t.AddAccountAsync("bob@example.com");
        await t.Store.Directory.AddAliasAsync("contact@example.com", ["alice@example.com"], AliasKind.Alias);
        await t.Store.Directory.AddAliasAsync("all@example.com", ["alice@example.com", "bob@example.com"], AliasKind.Group);

        Assert.True(await t.Store.Directory.CanSendAsAsync(alice.Id, "Alice@EXAMPLE.com"));
        Assert.True(await t.Store.Directory.CanSendAsAsync(alice.Id, "contact@example.com"));
        Assert.False(await t.Store.Directory.CanSendAsAsync(alice.Id, "bob@example.com"));
        Assert.False(await t.Store.Directory.CanSendAsAsync(alice.Id, "all@example.com"));

        await t.Store.Directory.GrantSendAsAsync(alice.Id, "All@example.com");
        Assert.True(await t.Store.Directory.CanSendAsAsync(alice.Id, "all@example.com"));
        Assert.False(await t.Store.Directory.CanSendAsAsync(alice.Id, "garbage"));
    }

    [Fact]
    public async Task Password_quota_and_listing_updates_are_kept()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        await t.AddAccountAsync("b@other.test");
        await t.Store.Directory.SetPasswordHashAsync(a.Id, "$new");
        await t.Store.Directory.SetQuotaAsync(a.Id, 1000, 5);
        var reread = await t.Store.Directory.GetAccountAsync(a.Id);
        Assert.Equal("$new", reread!.PasswordHash);
        Assert.Equal(1000, reread.MaxBytes);
        Assert.Equal(5, reread.MaxMessages);
        Assert.Single(await t.Store.Directory.ListAccountsAsync("example.com"));
        Assert.Equal(2, (await t.Store.Directory.ListAccountsAsync()).Count);
        await Assert.ThrowsAsync<StoreException>(() => t.Store.Directory.SetPasswordHashAsync(999, "$x"));
    }
}
