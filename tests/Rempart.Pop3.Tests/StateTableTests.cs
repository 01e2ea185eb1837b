using Rempart.Pop3.Protocol;

namespace Rempart.Pop3.Tests;

public class StateTableTests
{
    [Fact]
    public void Every_command_kind_has_exactly_one_row()
    {
        foreach (var kind in Enum.GetValues<Pop3CommandKind>().Where(k => k != Pop3CommandKind.Unknown))
        {
            Assert.Single(Pop3StateTable.Commands, c => c.Kind == kind);
        }

        Assert.Equal(Pop3StateTable.Commands.Count, Pop3StateTable.Commands.Select(c => c.Name).Distinct().Count());
    }

    [Theory]
    [InlineData(Pop3CommandKind.Capa, true, true)]
    [InlineData(Pop3CommandKind.Stls, true, false)]
    [InlineData(Pop3CommandKind.User, true, false)]
    [InlineData(Pop3CommandKind.Pass, true, false)]
    [InlineData(Pop3CommandKind.Auth, true, false)]
    [InlineData(Pop3CommandKind.Quit, true, true)]
    [InlineData(Pop3CommandKind.Stat, false, true)]
    [InlineData(Pop3CommandKind.List, false, true)]
    [InlineData(Pop3CommandKind.Retr, false, true)]
    [InlineData(Pop3CommandKind.Dele, false, true)]
    [InlineData(Pop3CommandKind.Noop, false, true)]
    [InlineData(Pop3CommandKind.Rset, false, true)]
    [InlineData(Pop3CommandKind.Top, false, true)]
    [InlineData(Pop3CommandKind.Uidl, false, true)]
    public void Commands_are_valid_only_in_their_states(Pop3CommandKind kind, bool authorization, bool transaction)
    {
        Assert.Equal(authorization, Pop3StateTable.IsAllowed(kind, Pop3State.Authorization));
        Assert.Equal(transaction, Pop3StateTable.IsAllowed(kind, Pop3State.Transaction));
        Assert.False(Pop3StateTable.IsAllowed(kind, Pop3State.Update));
    }

    [Fact]
    public void Unknown_is_never_allowed()
    {
        Assert.False(Pop3StateTable.IsAllowed(Pop3CommandKind.Unknown, Pop3State.Authorization));
        Assert.Null(Pop3StateTable.Find("APOP"u8));
        Assert.NotNull(Pop3StateTable.Find("uidl"u8));
    }
}
