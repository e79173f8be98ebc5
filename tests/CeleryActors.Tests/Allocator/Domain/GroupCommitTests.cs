using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class GroupCommitTests
{
    private static TaskAccepted Task(string id, int dataBytes) => new(id, "job", new string('x', dataBytes), 5, null, 1);

    [Fact]
    public void An_entry_stops_at_the_byte_cap_and_its_actions_run_with_it_in_order()
    {
        var commit = new GroupCommit(maxEvents: 100, maxBytes: 2_500);
        var ran = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var id = $"t{i}";
            commit.Add(Task(id, 1_000), () => ran.Add(id));
        }
        commit.After(() => ran.Add("reply"));

        var first = commit.Take();
        Assert.Equal(["t0", "t1"], first.Events.Select(e => e.TaskId));
        foreach (var action in first.Actions) action();
        Assert.Equal(["t0", "t1"], ran);

        Assert.Equal(["t2", "t3"], commit.Take().Events.Select(e => e.TaskId));
        var last = commit.Take();
        Assert.Equal(["t4"], last.Events.Select(e => e.TaskId));
        Assert.Equal(2, last.Actions.Count); // t4's, then the reply that waited for everything
        Assert.True(commit.IsEmpty);
    }

    [Fact]
    public void An_event_larger_than_the_cap_goes_alone_and_the_event_cap_holds_too()
    {
        var commit = new GroupCommit(maxEvents: 3, maxBytes: 1_000);
        commit.Add(Task("big", 5_000), () => { });
        for (var i = 0; i < 5; i++) commit.Add(new TaskAcknowledged($"a{i}", "w", 1), () => { });
        Assert.Equal(["big"], commit.Take().Events.Select(e => e.TaskId));
        Assert.Equal(3, commit.Take().Events.Count);
        Assert.Equal(2, commit.Take().Events.Count);
        Assert.Equal(0, commit.Count);
    }

    [Fact]
    public void Actions_without_events_run_at_once()
    {
        var commit = new GroupCommit(10, 1_000);
        var ran = 0;
        commit.After(() => ran++);
        var (events, actions) = commit.Take();
        Assert.Empty(events);
        foreach (var action in actions) action();
        Assert.Equal(1, ran);
    }

    [Fact]
    public void One_write_at_a_time_and_what_collects_meanwhile_goes_next()
    {
        var commit = new GroupCommit(maxEvents: 100, maxBytes: 100_000);
        commit.Add(Task("t0", 10), () => { });
        Assert.True(commit.TryStart(out var first, out _));
        Assert.Equal(["t0"], first.Select(e => e.TaskId));

        commit.Add(Task("t1", 10), () => { });
        Assert.False(commit.TryStart(out _, out _)); // t0's write is under way
        Assert.Equal(2, commit.Unwritten);

        commit.Written();
        Assert.True(commit.TryStart(out var second, out _));
        Assert.Equal(["t1"], second.Select(e => e.TaskId));
        commit.Written();
        Assert.False(commit.TryStart(out _, out _)); // nothing waits
        Assert.Equal(0, commit.Unwritten);
    }

    [Fact]
    public void A_snapshot_is_taken_when_the_journal_holds_everything_and_forced_past_twice_the_due_point()
    {
        var schedule = new SnapshotSchedule(every: 100);
        Assert.Equal(SnapshotStep.None, schedule.Written(events: 60, unwritten: 0, stateSize: 10));
        Assert.Equal(SnapshotStep.Take, schedule.Written(events: 60, unwritten: 0, stateSize: 10));
        // The count starts anew; while events keep waiting it waits, until twice the due point.
        Assert.Equal(SnapshotStep.None, schedule.Written(events: 150, unwritten: 5, stateSize: 10));
        Assert.Equal(SnapshotStep.Drain, schedule.Written(events: 50, unwritten: 5, stateSize: 10));
        Assert.Equal(SnapshotStep.Take, schedule.Written(events: 1, unwritten: 0, stateSize: 10));
    }

    [Fact]
    public void A_big_state_is_snapshotted_after_as_many_events_as_it_holds_tasks()
    {
        var schedule = new SnapshotSchedule(every: 100);
        Assert.Equal(SnapshotStep.None, schedule.Written(events: 500, unwritten: 0, stateSize: 1_000));
        Assert.Equal(SnapshotStep.Take, schedule.Written(events: 500, unwritten: 0, stateSize: 1_000));
    }
}
