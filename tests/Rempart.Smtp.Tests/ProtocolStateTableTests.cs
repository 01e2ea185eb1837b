using Rempart.Smtp.Protocol;

namespace Rempart.Smtp.Tests;

public class ProtocolStateTableTests
{
    public static TheoryData<SmtpVerb> AllVerbs()
    {
        var data = new TheoryData<SmtpVerb>();
        foreach (var v in Enum.GetValues<SmtpVerb>().Where(v => v != SmtpVerb.Unknown))
        {
            data.Add(v);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllVerbs))]
    public void Every_verb_has_a_rule_for_every_state(SmtpVerb verb)
    {
        Assert.Contains(verb, SmtpStateTable.Verbs);
        foreach (var state in new[] { SmtpState.Connected, SmtpState.Ready, SmtpState.Mail, SmtpState.Rcpt, SmtpState.Chunking })
        {
            var reply = SmtpStateTable.Check(verb, state);
            if (reply is { } r)
            {
                Assert.True(r.Code is 503 or 554, $"{verb} in {state}: {r}");
                Assert.Equal("5.5.1", r.Enhanced);
            }
        }
    }

    [Theory]
    [InlineData(SmtpVerb.Mail, SmtpState.Connected, 503)]
    [InlineData(SmtpVerb.Mail, SmtpState.Ready, 0)]
    [InlineData(SmtpVerb.Mail, SmtpState.Mail, 503)]
    [InlineData(SmtpVerb.Rcpt, SmtpState.Ready, 503)]
    [InlineData(SmtpVerb.Rcpt, SmtpState.Mail, 0)]
    [InlineData(SmtpVerb.Rcpt, SmtpState.Rcpt, 0)]
    [InlineData(SmtpVerb.Data, SmtpState.Mail, 554)]
    [InlineData(SmtpVerb.Data, SmtpState.Rcpt, 0)]
    [InlineData(SmtpVerb.Data, SmtpState.Chunking, 503)]
    [InlineData(SmtpVerb.Bdat, SmtpState.Chunking, 0)]
    [InlineData(SmtpVerb.Bdat, SmtpState.Ready, 503)]
    [InlineData(SmtpVerb.Mail, SmtpState.Chunking, 503)]
    [InlineData(SmtpVerb.Ehlo, SmtpState.Chunking, 503)]
    [InlineData(SmtpVerb.Rset, SmtpState.Chunking, 0)]
    [InlineData(SmtpVerb.Noop, SmtpState.Chunking, 0)]
    [InlineData(SmtpVerb.Quit, SmtpState.Chunking, 0)]
    [InlineData(SmtpVerb.StartTls, SmtpState.Mail, 503)]
    [InlineData(SmtpVerb.Auth, SmtpState.Mail, 503)]
    [InlineData(SmtpVerb.Auth, SmtpState.Ready, 0)]
    [InlineData(SmtpVerb.Ehlo, SmtpState.Rcpt, 0)]
    public void State_table_allows_and_refuses(SmtpVerb verb, SmtpState state, int code)
    {
        var reply = SmtpStateTable.Check(verb, state);
        Assert.Equal(code, reply?.Code ?? 0);
    }
}
