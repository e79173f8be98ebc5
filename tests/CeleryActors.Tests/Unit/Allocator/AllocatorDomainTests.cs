using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Unit.Allocator;

public class PriorityMailboxTests
{
    [Fact]
    public void A_burst_of_mixed_priorities_comes_out_highest_first_and_fifo_within_a_priority()
    {
        var box = new PriorityMailbox<string>();
        var random = new Random(7);
        var sent = new List<(int Priority, long Seq)>();
        for (var i = 0; i < 1_000; i++)
        {
            var p = random.Next(0, 10);
            box.Enqueue($"t{i}", p, i, $"{p}:{i}");
            sent.Add((p, i));
        }
        var expected = sent.OrderByDescending(s => s.Priority).ThenBy(s => s.Seq).Select(s => $"{s.Priority}:{s.Seq}");
        var actual = new List<string>();
        while (box.Dequeue() is { } item) actual.Add(item);
        Assert.Equal(expected, actual);
        Assert.Equal(0, box.Count);
    }

    [Fact]
    public void A_requeued_task_goes_ahead_of_newer_tasks_of_its_priority_only()
    {
        var box = new PriorityMailbox<string>();
        box.Enqueue("old", 5, 1, "old");
        box.Enqueue("a", 5, 2, "a");
        box.Enqueue("b", 5, 3, "b");
        box.Enqueue("urgent", 9, 4, "urgent");
        Assert.Equal("urgent", box.Dequeue());
        Assert.Equal("old", box.Dequeue()); // allocated, then comes back
        box.Enqueue("c", 5, 5, "c");
        box.Enqueue("old", 5, 1, "old");
        Assert.Equal(["old", "a", "b", "c"], Drain(box));
    }

    [Fact]
    public void TakeFirst_skips_refused_tasks_and_leaves_them_in_place()
    {
        var box = new PriorityMailbox<string>();
        box.Enqueue("gpu", 9, 1, "gpu");
        box.Enqueue("plain", 1, 2, "plain");
        Assert.Equal("plain", box.TakeFirst(t => t != "gpu"));
        Assert.Null(box.TakeFirst(t => t != "gpu"));
        Assert.True(box.Remove("gpu"));
        Assert.False(box.Remove("gpu"));
    }

    private static List<string> Drain(PriorityMailbox<string> box)
    {
        var list = new List<string>();
        while (box.Dequeue() is { } item) list.Add(item);
        return list;
    }
}

public class AllocationDecisionTests
{
    private static readonly Dictionary<string, CapabilityValue> None = new();

    [Fact]
    public void Picks_the_least_loaded_worker_with_room_and_the_first_among_equals()
    {
        var a = new WorkerSlot("a", None, 2) { Load = 1 };
        var b = new WorkerSlot("b", None, 4) { Load = 1 };
        var c = new WorkerSlot("c", None, 1) { Load = 1 }; // full
        Assert.Same(a, AllocationDecision.Choose([a, b, c], null));
        b.Load = 0;
        Assert.Same(b, AllocationDecision.Choose([a, b, c], null));
        a.Load = 2;
        b.Load = 4;
        Assert.Null(AllocationDecision.Choose([a, b, c], null));
    }

    [Fact]
    public void Skips_offline_workers()
    {
        var a = new WorkerSlot("a", None, 2) { Online = false };
        var b = new WorkerSlot("b", None, 2) { Load = 1 };
        Assert.Same(b, AllocationDecision.Choose([a, b], null));
    }

    [Fact]
    public void Numbers_are_met_by_greater_or_equal_and_strings_by_equal()
    {
        var small = new WorkerSlot("small", new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(2), ["os"] = CapabilityValue.Of("linux") }, 5);
        var big = new WorkerSlot("big", new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(8), ["os"] = CapabilityValue.Of("linux"), ["gpu"] = CapabilityValue.Of(1) }, 5) { Load = 3 };
        Assert.Same(big, AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(4) }));
        Assert.Same(small, AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(2) }));
        Assert.Same(big, AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(1) }));
        Assert.Null(AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["os"] = CapabilityValue.Of("windows") }));
        Assert.Null(AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of("8") }));
        Assert.Null(AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(2) }));
    }
}

public class QueueStateTests
{
    private static readonly Dictionary<string, CapabilityValue> None = new();

    private static SubmitTask Task(string id, int priority = 5, Dictionary<string, CapabilityValue>? requires = null) =>
        new("q", id, "job", "{}", priority, requires, null, 10);

    private static void Submit(QueueState s, SubmitTask t)
    {
        Assert.Equal(SubmitOutcome.Accepted, s.Process(t, out var accepted, out _));
        s.Apply(accepted!);
    }

    private static List<TaskAllocated> AllocateAll(QueueState s, double now = 11)
    {
        var list = new List<TaskAllocated>();
        while (s.NextAllocation(now) is { } a)
        {
            s.Apply(a);
            list.Add(a);
        }
        return list;
    }

    [Fact]
    public void Duplicates_of_pending_in_flight_or_finished_ids_are_ignored_and_counted()
    {
        var s = new QueueState("q");
        Submit(s, Task("a"));
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("a"), out _, out _));
        s.UpsertWorker(new WorkerServesQueue("q", "w", None, 1));
        AllocateAll(s);
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("a"), out _, out _));
        s.Apply(s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Succeeded, 1, null), 12)!);
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("a"), out _, out _));
        Assert.Equal((1L, 3L, 1L), (s.Accepted, s.Duplicates, s.Succeeded));
    }

    [Fact]
    public void Never_gives_a_worker_more_than_its_slots_and_waiting_tasks_count_as_pending()
    {
        var s = new QueueState("q");
        for (var i = 0; i < 10; i++) Submit(s, Task($"t{i}"));
        s.UpsertWorker(new WorkerServesQueue("q", "a", None, 2));
        s.UpsertWorker(new WorkerServesQueue("q", "b", None, 3));
        var allocations = AllocateAll(s);
        Assert.Equal(5, allocations.Count);
        Assert.Equal(2, allocations.Count(a => a.Worker == "a"));
        Assert.Equal(3, allocations.Count(a => a.Worker == "b"));
        Assert.Equal(5, s.PendingCount);
        Assert.Equal(5, s.Stats().PendingByPriority[5]);
        // A finished task frees one slot.
        s.Apply(s.Process(new ReportTaskProgress("q", allocations[0].TaskId, allocations[0].Worker, TaskProgress.Succeeded, 1, null), 12)!);
        Assert.Single(AllocateAll(s));
    }

    [Fact]
    public void A_task_needing_a_gpu_waits_while_others_pass_it()
    {
        var s = new QueueState("q");
        Submit(s, Task("gpu", 9, new() { ["gpu"] = CapabilityValue.Of(1) }));
        Submit(s, Task("plain", 1));
        s.UpsertWorker(new WorkerServesQueue("q", "cpu-only", None, 5));
        Assert.Equal(["plain"], AllocateAll(s).Select(a => a.TaskId));
        Assert.Equal(1, s.PendingCount);
        s.UpsertWorker(new WorkerServesQueue("q", "gpu-box", new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(2) }, 1));
        Assert.Equal([("gpu", "gpu-box")], AllocateAll(s).Select(a => (a.TaskId, a.Worker)));
    }

    [Fact]
    public void Ack_timeout_requeues_ahead_of_newer_tasks_and_the_next_attempt_counts_up()
    {
        var s = new QueueState("q");
        Submit(s, Task("first"));
        s.UpsertWorker(new WorkerServesQueue("q", "w", None, 1));
        Assert.Equal(1, AllocateAll(s, now: 100).Single().Attempt);
        Submit(s, Task("second"));
        Assert.Empty(s.ExpiredAcknowledgements(now: 105, ackTimeoutSeconds: 30));
        var expired = s.ExpiredAcknowledgements(now: 131, ackTimeoutSeconds: 30);
        Assert.Equal("first", Assert.Single(expired).TaskId);
        s.Apply(expired[0]);
        var again = AllocateAll(s, now: 132).Single();
        Assert.Equal(("first", 2), (again.TaskId, again.Attempt));
        Assert.Equal(1, s.Requeued);
    }

    [Fact]
    public void An_acknowledged_task_does_not_time_out_and_a_departed_worker_returns_its_tasks()
    {
        var s = new QueueState("q");
        Submit(s, Task("a"));
        Submit(s, Task("b"));
        s.UpsertWorker(new WorkerServesQueue("q", "w", None, 2));
        AllocateAll(s, now: 0);
        s.Apply(s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Received, null, null), 1)!);
        Assert.Null(s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Received, null, null), 1));
        Assert.Null(s.Process(new ReportTaskProgress("q", "a", "intruder", TaskProgress.Started, null, null), 1));
        var expired = s.ExpiredAcknowledgements(100, 30);
        Assert.Equal(["b"], expired.Select(r => r.TaskId));
        foreach (var r in expired) s.Apply(r);
        var back = s.Process(new WorkerLeftQueue("q", "w", "worker_offline"), 101);
        Assert.Equal(["a"], back.Select(r => r.TaskId));
        foreach (var r in back) s.Apply(r);
        s.RemoveWorker("w");
        Assert.Equal((0, 2, 0), (s.Consumers, s.PendingCount, s.InFlightCount));
        Assert.Equal(["a", "b"], s.Pending.Select(t => t.TaskId)); // arrival order kept
    }

    [Fact]
    public void A_late_finish_of_a_requeued_task_completes_it_once()
    {
        var s = new QueueState("q");
        Submit(s, Task("a"));
        s.UpsertWorker(new WorkerServesQueue("q", "w", None, 1));
        AllocateAll(s, 0);
        foreach (var r in s.ExpiredAcknowledgements(100, 30)) s.Apply(r);
        s.Apply(s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Succeeded, 2, null), 101)!);
        Assert.Null(s.Process(new ReportTaskProgress("q", "a", "w", TaskProgress.Succeeded, 2, null), 102));
        Assert.Empty(AllocateAll(s, 103));
        Assert.Equal((1L, 0, 0), (s.Succeeded, s.PendingCount, s.InFlightCount));
    }

    [Fact]
    public void A_snapshot_restores_pending_order_in_flight_statistics_and_history()
    {
        var s = new QueueState("q");
        for (var i = 0; i < 6; i++) Submit(s, Task($"t{i}", i % 3));
        s.UpsertWorker(new WorkerServesQueue("q", "w", None, 2));
        AllocateAll(s);
        s.Apply(s.Process(new ReportTaskProgress("q", "t2", "w", TaskProgress.Failed, 1, "Boom"), 12)!);
        var copy = new QueueState("q");
        copy.Restore(s.ToSnapshot());
        Assert.Equal(s.Pending.Select(t => t.TaskId), copy.Pending.Select(t => t.TaskId));
        Assert.Equal(s.InFlight.Select(t => (t.TaskId, t.Worker)), copy.InFlight.Select(t => (t.TaskId, t.Worker)));
        // Workers are not part of a snapshot: they announce themselves again after a restart.
        Assert.Equal(s.Stats() with { PendingByPriority = null!, Consumers = 0 }, copy.Stats() with { PendingByPriority = null! });
        Assert.Equal(s.History(100), copy.History(100));
        Assert.Equal(SubmitOutcome.Duplicate, copy.Process(Task("t2"), out _, out _));
        Assert.Equal(s.EventCount, copy.EventCount);
    }

    [Fact]
    public void Replaying_the_events_rebuilds_the_same_state()
    {
        var s = new QueueState("q");
        var journal = new List<IQueueEvent>();
        void Record(IQueueEvent e) { s.Apply(e); journal.Add(e); }
        for (var i = 0; i < 5; i++)
        {
            s.Process(Task($"t{i}", 9 - i), out var a, out _);
            Record(a!);
        }
        s.UpsertWorker(new WorkerServesQueue("q", "w", None, 3));
        while (s.NextAllocation(1) is { } alloc) Record(alloc);
        Record(s.Process(new ReportTaskProgress("q", "t0", "w", TaskProgress.Succeeded, 1, null), 2)!);
        foreach (var r in s.Process(new WorkerLeftQueue("q", "w", "worker_offline"), 3)) Record(r);
        var replayed = new QueueState("q");
        foreach (var e in journal) replayed.Apply(e);
        Assert.Equal(s.Pending.Select(t => t.TaskId), replayed.Pending.Select(t => t.TaskId));
        Assert.Equal(["t1", "t2", "t3", "t4"], replayed.Pending.Select(t => t.TaskId));
        Assert.Equal((1L, 3L, 2L), (replayed.Succeeded, replayed.Allocated, replayed.Requeued));
        Assert.Equal("requeued", replayed.History(1)[0].Event);
    }
}
