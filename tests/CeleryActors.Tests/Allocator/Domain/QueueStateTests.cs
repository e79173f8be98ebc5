using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class QueueStateTests
{
    private static readonly Dictionary<string, CapabilityValue> None = new();
    private static readonly Dictionary<string, CapabilityValue> Gpu = new() { ["gpu"] = CapabilityValue.Of(2) };
    private long _clock = 1_000_000;

    private QueueState NewState() => new("q", clockMs: () => _clock);

    private static SubmitTask Task(string id, int priority = 5, Dictionary<string, CapabilityValue>? requires = null) =>
        new("q", id, "job", "{}", priority, requires, null, 10);

    private static void Submit(QueueState s, SubmitTask t)
    {
        Assert.Equal(SubmitOutcome.Accepted, s.Process(t, out var accepted));
        s.Apply(accepted!);
    }

    private static List<TaskAllocated> Grant(QueueState s, string worker, int slots, Dictionary<string, CapabilityValue>? caps = null, double now = 11)
    {
        var list = new List<TaskAllocated>();
        while (list.Count < slots && s.Allocate(worker, caps ?? None, now) is { } a)
        {
            s.Apply(a);
            list.Add(a);
        }
        return list;
    }

    private static void Finish(QueueState s, string task, string worker, TaskProgress how = TaskProgress.Succeeded) =>
        s.Apply(s.Process(new ReportTaskProgress("q", task, worker, how, 1, how == TaskProgress.Failed ? "Boom" : null), 12).Event!);

    [Fact]
    public void Duplicates_of_pending_in_flight_or_finished_ids_are_ignored_and_counted()
    {
        var s = NewState();
        Submit(s, Task("a"));
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("a"), out _));
        Grant(s, "w", 1);
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("a"), out _));
        Finish(s, "a", "w");
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("a"), out _));
        Assert.Equal((1L, 3L, 1L), (s.Accepted, s.Duplicates, s.Succeeded));
    }

    [Fact]
    public void A_granted_slot_takes_the_most_urgent_task_the_worker_can_take_and_no_more_than_granted()
    {
        var s = NewState();
        for (var i = 0; i < 10; i++) Submit(s, Task($"t{i}", i % 2 == 0 ? 2 : 7));
        var two = Grant(s, "a", 2);
        Assert.Equal(["t1", "t3"], two.Select(a => a.TaskId));
        Assert.Equal((8, 2, 2), (s.PendingCount, s.InFlightCount, s.HeldCount("a")));
        Assert.Equal(new TaskOffer(7, 10, 8), s.OfferFor(None));
        Assert.Equal(3, s.Stats(consumers: 1).PendingByPriority[7]);
    }

    [Fact]
    public void Tasks_nobody_can_take_never_stand_in_front_of_those_a_worker_can_take()
    {
        var s = NewState();
        for (var i = 0; i < 500; i++) Submit(s, Task($"gpu{i}", 9, new() { ["gpu"] = CapabilityValue.Of(1) }));
        Submit(s, Task("plain", 0));
        Assert.Equal(["plain"], Grant(s, "cpu-only", 5).Select(a => a.TaskId));
        Assert.Null(s.OfferFor(None));
        Assert.Equal(new TaskOffer(9, 10, 500), s.OfferFor(Gpu));
        Assert.Equal(("gpu0", "gpu-box"), Grant(s, "gpu-box", 1, Gpu).Select(a => (a.TaskId, a.Worker)).Single());
    }

    [Fact]
    public void Ack_timeout_runs_on_the_monotonic_clock_requeues_ahead_of_newer_tasks_and_the_next_attempt_counts_up()
    {
        var s = NewState();
        Submit(s, Task("first"));
        Assert.Equal(1, Grant(s, "w", 1, now: 100).Single().Attempt);
        Submit(s, Task("second"));
        _clock += 5_000;
        Assert.Empty(s.ExpiredAcknowledgements(30_000, now: 1e9)); // a wall clock far ahead changes nothing
        _clock += 25_000;
        var expired = s.ExpiredAcknowledgements(30_000, now: 0);
        Assert.Equal("first", Assert.Single(expired).TaskId);
        s.Apply(expired[0]);
        var again = Grant(s, "w", 1, now: 132).Single();
        Assert.Equal(("first", 2), (again.TaskId, again.Attempt));
        Assert.Equal(1, s.Requeued);
    }

    [Fact]
    public void An_acknowledged_task_does_not_time_out_and_a_departed_worker_returns_its_tasks()
    {
        var s = NewState();
        Submit(s, Task("a"));
        Submit(s, Task("b"));
        Grant(s, "w", 2, now: 0);
        s.Apply(s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Received, null, null), 1).Event!);
        Assert.Equal(new ReportDecision(null, null), s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Received, null, null), 1));
        _clock += 100_000;
        var expired = s.ExpiredAcknowledgements(30_000, 100);
        Assert.Equal(["b"], expired.Select(r => r.TaskId));
        foreach (var r in expired) s.Apply(r);
        var back = s.Process(new WorkerLeftQueue("q", "w", "worker_offline"), 101);
        Assert.Equal(["a"], back.Select(r => r.TaskId));
        foreach (var r in back) s.Apply(r);
        Assert.Equal((2, 0, 0), (s.PendingCount, s.InFlightCount, s.HeldCount("w")));
        Assert.Equal(["a", "b"], s.Pending.Select(t => t.TaskId)); // arrival order kept
    }

    [Fact]
    public void Reports_count_from_workers_that_held_an_attempt_only_and_a_task_finishes_once()
    {
        var s = NewState();
        Submit(s, Task("a"));
        Grant(s, "first", 1, now: 0);
        Assert.Equal(IgnoredReport.NotHolder,
            s.Process(new ReportTaskProgress("q", "a", "stranger", TaskProgress.Succeeded, 1, null), 1).Ignored);
        Assert.Equal(IgnoredReport.UnknownTask,
            s.Process(new ReportTaskProgress("q", "nope", "first", TaskProgress.Succeeded, 1, null), 1).Ignored);
        _clock += 60_000;
        foreach (var r in s.ExpiredAcknowledgements(30_000, 2)) s.Apply(r);
        Grant(s, "second", 1, now: 3);
        // The first holder did the work after all: its report finishes the task; the second's is then ignored.
        Finish(s, "a", "first");
        Assert.Equal(IgnoredReport.AlreadyFinished,
            s.Process(new ReportTaskProgress("q", "a", "second", TaskProgress.Succeeded, 1, null), 4).Ignored);
        Assert.Empty(Grant(s, "third", 1));
        Assert.Equal((1L, 0, 0, 0), (s.Succeeded, s.PendingCount, s.InFlightCount, s.HeldCount("second")));
    }

    [Fact]
    public void A_snapshot_restores_pending_order_in_flight_holders_statistics_and_history()
    {
        var s = NewState();
        for (var i = 0; i < 6; i++) Submit(s, Task($"t{i}", i % 3));
        Grant(s, "w", 2);
        s.Apply(s.Process(new ReportTaskProgress("q", "t2", "w", TaskProgress.Failed, 1, "Boom"), 12).Event!);
        var copy = NewState();
        copy.Restore(s.ToSnapshot());
        Assert.Equal(s.Pending.Select(t => t.TaskId), copy.Pending.Select(t => t.TaskId));
        Assert.Equal(s.InFlight.Select(t => (t.TaskId, t.Worker)), copy.InFlight.Select(t => (t.TaskId, t.Worker)));
        Assert.Equal(s.HeldBy("w"), copy.HeldBy("w"));
        Assert.Equal(s.Stats(0) with { PendingByPriority = null! }, copy.Stats(0) with { PendingByPriority = null! });
        Assert.Equal(s.History(100), copy.History(100));
        Assert.Equal(SubmitOutcome.Duplicate, copy.Process(Task("t2"), out _));
        Assert.Equal(IgnoredReport.NotHolder,
            copy.Process(new ReportTaskProgress("q", copy.HeldBy("w")[0], "other", TaskProgress.Succeeded, 1, null), 13).Ignored);
        Assert.Equal(s.EventCount, copy.EventCount);
    }

    [Fact]
    public void Replaying_the_events_rebuilds_the_same_state()
    {
        var s = NewState();
        var journal = new List<IQueueEvent>();
        void Record(IQueueEvent e) { s.Apply(e); journal.Add(e); }
        for (var i = 0; i < 5; i++)
        {
            s.Process(Task($"t{i}", 9 - i), out var a);
            Record(a!);
        }
        while (s.InFlightCount < 3 && s.Allocate("w", None, 1) is { } alloc) Record(alloc);
        Record(s.Process(new ReportTaskProgress("q", "t0", "w", TaskProgress.Succeeded, 1, null), 2).Event!);
        foreach (var r in s.Process(new WorkerLeftQueue("q", "w", "worker_offline"), 3)) Record(r);
        var replayed = NewState();
        foreach (var e in journal) replayed.Apply(e);
        Assert.Equal(s.Pending.Select(t => t.TaskId), replayed.Pending.Select(t => t.TaskId));
        Assert.Equal(["t1", "t2", "t3", "t4"], replayed.Pending.Select(t => t.TaskId));
        Assert.Equal((1L, 3L, 2L), (replayed.Succeeded, replayed.Allocated, replayed.Requeued));
        Assert.Equal("requeued", replayed.History(1)[0].Event);
    }

    [Fact]
    public void Requirement_keys_do_not_depend_on_order_and_tell_numbers_from_strings()
    {
        var ab = new Dictionary<string, CapabilityValue> { ["a"] = CapabilityValue.Of(1), ["b"] = CapabilityValue.Of("x") };
        var ba = new Dictionary<string, CapabilityValue> { ["b"] = CapabilityValue.Of("x"), ["a"] = CapabilityValue.Of(1) };
        Assert.Equal(PendingTasks.KeyOf(ab), PendingTasks.KeyOf(ba));
        var number = new Dictionary<string, CapabilityValue> { ["a"] = CapabilityValue.Of(1) };
        var text = new Dictionary<string, CapabilityValue> { ["a"] = CapabilityValue.Of("1") };
        Assert.NotEqual(PendingTasks.KeyOf(number), PendingTasks.KeyOf(text));
        Assert.Equal("", PendingTasks.KeyOf(null));
    }
}
