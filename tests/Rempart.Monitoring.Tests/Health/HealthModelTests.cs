using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Tests.Health;

public sealed class HealthModelTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 4, 0, 0, TimeSpan.Zero));
    private readonly RecordingSink _sink = new();

    private HealthModel Model(ScriptedCheck check, HealthOptions? options = null, Func<bool>? active = null) =>
        new("mx1", options ?? new HealthOptions { Grace = TimeSpan.FromMinutes(2), FailuresBeforeUnhealthy = 2, CheckDeadline = TimeSpan.FromSeconds(5) },
            [check], _sink, active ?? (() => true), _time, NullLogger.Instance);

    private static MonitorStatus Status(HealthModel model, string monitor = "m") => model.Current.Monitors.Single(m => m.Monitor == monitor);

    [Fact]
    public async Task Pass_is_healthy_and_one_transition_is_emitted()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass);
        await using var model = Model(check);
        Assert.True(await model.RunOnceAsync(check, default));
        Assert.True(await model.RunOnceAsync(check, default));
        Assert.Equal(HealthState.Healthy, Status(model).State);
        var t = Assert.Single(_sink.Transitions);
        Assert.Equal((HealthState.Unknown, HealthState.Healthy), (t.From, t.To));
        Assert.Equal("mx1/test/m", t.Key);
    }

    [Fact]
    public async Task Failure_is_degraded_within_grace_then_unhealthy_once_sustained_then_healthy_on_pass()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass, CheckOutcome.Fail, CheckOutcome.Fail, CheckOutcome.Fail, CheckOutcome.Fail, CheckOutcome.Pass);
        await using var model = Model(check);
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Healthy, Status(model).State);

        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Degraded, Status(model).State);

        _time.Advance(TimeSpan.FromMinutes(1));
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Degraded, Status(model).State);

        _time.Advance(TimeSpan.FromMinutes(1));
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Unhealthy, Status(model).State);
        Assert.Equal(_time.GetUtcNow(), Status(model).Since);

        _time.Advance(TimeSpan.FromMinutes(1));
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Unhealthy, Status(model).State);

        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Healthy, Status(model).State);

        Assert.Equal(
            [(HealthState.Unknown, HealthState.Healthy), (HealthState.Healthy, HealthState.Degraded), (HealthState.Degraded, HealthState.Unhealthy), (HealthState.Unhealthy, HealthState.Healthy)],
            _sink.Transitions.Select(t => (t.From, t.To)));
    }

    [Fact]
    public async Task Grace_alone_is_not_enough_without_the_consecutive_failures()
    {
        var check = new ScriptedCheck(CheckOutcome.Fail, CheckOutcome.Fail);
        await using var model = Model(check, new HealthOptions { Grace = TimeSpan.Zero, FailuresBeforeUnhealthy = 2 });
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Degraded, Status(model).State);
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Unhealthy, Status(model).State);
    }

    [Fact]
    public async Task A_pass_between_failures_restarts_the_grace_period()
    {
        var check = new ScriptedCheck(CheckOutcome.Fail, CheckOutcome.Pass, CheckOutcome.Fail, CheckOutcome.Fail);
        await using var model = Model(check);
        await model.RunOnceAsync(check, default);
        _time.Advance(TimeSpan.FromMinutes(1.5));
        await model.RunOnceAsync(check, default);
        _time.Advance(TimeSpan.FromMinutes(1));
        await model.RunOnceAsync(check, default);
        _time.Advance(TimeSpan.FromMinutes(1));
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Degraded, Status(model).State);
    }

    [Fact]
    public async Task Warn_is_degraded_and_never_escalates()
    {
        var check = new ScriptedCheck(Enumerable.Repeat(CheckOutcome.Warn, 5).ToArray());
        await using var model = Model(check);
        for (var i = 0; i < 5; i++)
        {
            await model.RunOnceAsync(check, default);
            _time.Advance(TimeSpan.FromMinutes(5));
        }

        Assert.Equal(HealthState.Degraded, Status(model).State);
        Assert.Single(_sink.Transitions);
    }

    [Fact]
    public async Task Per_monitor_override_replaces_the_default_grace()
    {
        var options = new HealthOptions { Grace = TimeSpan.FromHours(1), FailuresBeforeUnhealthy = 5 };
        options.Monitors["test/m"] = new HealthMonitorOverride { Grace = TimeSpan.Zero, FailuresBeforeUnhealthy = 1 };
        var check = new ScriptedCheck(CheckOutcome.Fail);
        await using var model = Model(check, options);
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Unhealthy, Status(model).State);
    }

    [Fact]
    public async Task A_check_that_throws_fails_every_monitor_it_reported_before()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass) { Throw = false };
        await using var model = Model(check, new HealthOptions { Grace = TimeSpan.Zero, FailuresBeforeUnhealthy = 1 });
        await model.RunOnceAsync(check, default);
        check.Throw = true;
        await model.RunOnceAsync(check, default);
        var status = Status(model);
        Assert.Equal(HealthState.Unhealthy, status.State);
        Assert.Contains("InvalidOperationException", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_check_that_never_reported_and_throws_is_known_by_its_type_name()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass) { Throw = true };
        await using var model = Model(check);
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Degraded, Status(model, "scripted").State);
    }

    [Fact]
    public async Task A_check_that_overruns_its_deadline_is_a_failure()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass) { Hang = true };
        await using var model = Model(check, new HealthOptions { Grace = TimeSpan.Zero, FailuresBeforeUnhealthy = 1, CheckDeadline = TimeSpan.FromSeconds(5) });
        var run = model.RunOnceAsync(check, default);
        for (var i = 0; i < 100 && !check.Started; i++)
        {
            await Task.Delay(10);
        }

        Assert.False(run.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(10)));
        var status = Status(model, "scripted");
        Assert.Equal(HealthState.Unhealthy, status.State);
        Assert.Contains("did not finish within 5 s", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_is_judged_while_the_server_is_not_ready()
    {
        var active = false;
        var check = new ScriptedCheck(CheckOutcome.Fail, CheckOutcome.Fail);
        await using var model = Model(check, active: () => active);
        Assert.False(await model.RunOnceAsync(check, default));
        Assert.Empty(model.Current.Monitors);
        Assert.Empty(_sink.Transitions);
        Assert.Equal(0, check.Runs);
        active = true;
        Assert.True(await model.RunOnceAsync(check, default));
        Assert.Single(_sink.Transitions);
    }

    [Fact]
    public async Task A_flapping_check_emits_one_transition_per_change_and_none_for_repeats()
    {
        var script = new[] { CheckOutcome.Fail, CheckOutcome.Fail, CheckOutcome.Fail, CheckOutcome.Pass, CheckOutcome.Pass, CheckOutcome.Pass };
        var check = new ScriptedCheck(script);
        await using var model = Model(check, new HealthOptions { Grace = TimeSpan.Zero, FailuresBeforeUnhealthy = 2 });
        for (var i = 0; i < script.Length; i++)
        {
            await model.RunOnceAsync(check, default);
        }

        Assert.Equal(
            [(HealthState.Unknown, HealthState.Degraded), (HealthState.Degraded, HealthState.Unhealthy), (HealthState.Unhealthy, HealthState.Healthy)],
            _sink.Transitions.Select(t => (t.From, t.To)));
    }

    [Fact]
    public async Task Unknown_outcome_is_unknown_and_report_overall_is_the_worst()
    {
        var check = new ScriptedCheck(CheckOutcome.Unknown);
        await using var model = Model(check);
        model.Declare("platform", "disk");
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Unknown, Status(model).State);
        Assert.Equal(["test", "platform"], model.Current.Sets.Select(s => s.HealthSet).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal(HealthState.Unknown, model.Current.Overall);
    }

    [Fact]
    public async Task A_throwing_sink_does_not_stop_the_model()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass, CheckOutcome.Fail);
        await using var model = new HealthModel("mx1", new HealthOptions(), [check], new ThrowingSink(), () => true, _time, NullLogger.Instance);
        await model.RunOnceAsync(check, default);
        await model.RunOnceAsync(check, default);
        Assert.Equal(HealthState.Degraded, Status(model).State);
    }

    [Fact]
    public async Task Started_model_runs_checks_on_their_interval()
    {
        var check = new ScriptedCheck(CheckOutcome.Pass) { Interval = TimeSpan.FromSeconds(30) };
        await using var model = Model(check);
        model.Start();
        for (var i = 0; i < 200 && check.Runs < 1; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(1, check.Runs);
        for (var i = 0; i < 200 && check.Runs < 2; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10);
        }

        Assert.Equal(2, check.Runs);
    }

    [Fact]
    public void Options_validation_names_the_key()
    {
        var o = new HealthOptions { FailuresBeforeUnhealthy = 0, ProbeDeadline = TimeSpan.FromHours(2) };
        o.Platform.CertificateFail = TimeSpan.FromDays(60);
        o.Monitors["nope"] = new HealthMonitorOverride();
        var errors = o.Validate("monitoring.health").ToList();
        Assert.Contains(errors, e => e.StartsWith("'monitoring.health.failuresBeforeUnhealthy'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'monitoring.health.probeDeadline'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'monitoring.health.platform.certificateFail'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'monitoring.health.monitors.nope'", StringComparison.Ordinal));
        Assert.Empty(new HealthOptions().Validate("monitoring.health"));
        Assert.Empty(new HealthOptions { Interval = TimeSpan.FromMilliseconds(200), Grace = TimeSpan.Zero, CheckDeadline = TimeSpan.FromSeconds(1), ProbeDeadline = TimeSpan.FromSeconds(1) }.Validate("h"));
    }

    private sealed class ScriptedCheck(params CheckOutcome[] script) : IHealthCheck
    {
        private int _next;

        public string HealthSet => "test";

        public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

        public bool Throw { get; set; }

        public bool Hang { get; init; }

        public volatile bool Started;

        public int Runs;

        public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
        {
            Interlocked.Increment(ref Runs);
            Started = true;
            if (Hang)
            {
                // Ignores its token on purpose: the model must not wait for it.
                await new TaskCompletionSource().Task;
            }

            if (Throw)
            {
                throw new InvalidOperationException("boom");
            }

            var outcome = script[Math.Min(_next++, script.Length - 1)];
            return [new CheckResult("m", outcome, outcome.ToString(), 1)];
        }
    }

    private sealed class RecordingSink : IHealthTransitionSink
    {
        public List<HealthTransition> Transitions { get; } = [];

        public ValueTask OnTransitionAsync(HealthTransition transition, CancellationToken ct)
        {
            lock (Transitions)
            {
                Transitions.Add(transition);
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed class ThrowingSink : IHealthTransitionSink
    {
        public ValueTask OnTransitionAsync(HealthTransition transition, CancellationToken ct) => throw new InvalidOperationException("sink");
    }
}
