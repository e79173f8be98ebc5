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
    public void Offers_to_the_least_loaded_worker_with_room_and_the_first_among_equals()
    {
        var a = new WorkerSlot("a", None) { Free = 1, Held = 1 };
        var b = new WorkerSlot("b", None) { Free = 3, Held = 1 };
        var c = new WorkerSlot("c", None) { Free = 0, Held = 0 }; // full
        Assert.Same(a, AllocationDecision.Choose([a, b, c], null));
        b.Held = 0;
        Assert.Same(b, AllocationDecision.Choose([a, b, c], null));
        b.Offered = true; // waiting for its answer: not asked twice
        Assert.Same(a, AllocationDecision.Choose([a, b, c], null));
        a.Free = 0;
        Assert.Null(AllocationDecision.Choose([a, b, c], null));
    }

    [Fact]
    public void Numbers_are_met_by_greater_or_equal_and_strings_by_equal()
    {
        var small = new WorkerSlot("small", new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(2), ["os"] = CapabilityValue.Of("linux") }) { Free = 5 };
        var big = new WorkerSlot("big", new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(8), ["os"] = CapabilityValue.Of("linux"), ["gpu"] = CapabilityValue.Of(1) }) { Free = 5, Held = 3 };
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

public class QueueConsumersTests
{
    private static readonly Dictionary<string, CapabilityValue> None = new();

    private static WorkerServesQueue Serves(string worker, int free, int held = 0, long epoch = 1) =>
        new("q", worker, None, epoch, 1, free, held);

    private static QueueState WithTasks(int n)
    {
        var s = new QueueState("q");
        for (var i = 0; i < n; i++) s.Apply(new TaskAccepted($"t{i}", "job", "{}", 5, null, 1));
        return s;
    }

    [Fact]
    public void One_waiting_task_is_offered_to_one_worker_the_least_loaded_with_room()
    {
        var consumers = new QueueConsumers();
        consumers.Upsert(Serves("busy", free: 2, held: 6), null);
        consumers.Upsert(Serves("idle", free: 8, held: 0), null);
        consumers.Upsert(Serves("full", free: 0, held: 8), null);
        var offers = consumers.Offers(WithTasks(1));
        Assert.Equal(["idle"], offers.Select(o => o.Worker));
        // Asked once: until it answers, a second look offers nothing more.
        Assert.Empty(consumers.Offers(WithTasks(1)));
    }

    [Fact]
    public void When_the_room_of_workers_does_not_cover_what_waits_the_full_ones_hear_what_is_most_urgent()
    {
        var consumers = new QueueConsumers();
        consumers.Upsert(Serves("small", free: 1), null);
        consumers.Upsert(Serves("full", free: 0, held: 4), null);
        var offers = consumers.Offers(WithTasks(3));
        Assert.Equal(["small", "full"], offers.Select(o => o.Worker));
        Assert.Equal(new TaskOffer(5, 1, 3), offers[1].Offer);
        Assert.DoesNotContain(consumers.Offers(WithTasks(3)), o => o.Worker == "full"); // told once
    }

    [Fact]
    public void Grants_of_an_incarnation_older_than_one_heard_are_not_honoured()
    {
        var consumers = new QueueConsumers();
        consumers.Upsert(Serves("w", free: 4, epoch: 7), null);
        Assert.Null(consumers.Granted(new GrantSlots("q", "w", Epoch: 6, Count: 1, Free: 3, Held: 0)));
        Assert.True(consumers.IsStale(new GrantSlots("q", "w", 6, 1, 3, 0)));
        Assert.NotNull(consumers.Granted(new GrantSlots("q", "w", 7, 1, 3, 0)));
        Assert.Null(consumers.Upsert(Serves("w", free: 4, epoch: 6), null));
        consumers.Remove("w");
        Assert.True(consumers.IsStale(new GrantSlots("q", "w", 6, 1, 3, 0)));
    }
}

public class WorkerPoolTests
{
    private static TaskOffer Offer(int priority, double arrivedAt = 1, int count = 10) => new(priority, arrivedAt, count);

    private static WorkerPool Synced(int size, params string[] queues)
    {
        var pool = new WorkerPool(size, queues);
        foreach (var q in queues) pool.Synced(q, pool.StartSync(q, 0, 1000)!.Value, [], null, 0);
        return pool;
    }

    [Fact]
    public void Nothing_is_granted_before_every_queue_answered_a_sync()
    {
        var pool = new WorkerPool(4, ["a", "b"]);
        pool.Offered("a", Offer(5));
        pool.Synced("a", pool.StartSync("a", 0, 1000)!.Value, [], Offer(5), 0);
        Assert.Empty(pool.Grants());
        pool.Synced("b", pool.StartSync("b", 0, 1000)!.Value, [], null, 0);
        Assert.Equal([("a", 4)], pool.Grants());
    }

    [Fact]
    public void A_free_slot_goes_to_the_most_urgent_offer_and_the_pool_is_never_exceeded()
    {
        var pool = Synced(3, "a", "b", "c");
        pool.Offered("a", Offer(2, count: 5));
        pool.Offered("b", Offer(9, count: 1));
        pool.Offered("c", Offer(9, arrivedAt: 0.5, count: 1));
        Assert.Equal([("c", 1), ("b", 1), ("a", 1)], pool.Grants());
        Assert.Equal((0, 0, 3), (pool.Free, pool.Held, pool.Promised));
        pool.Offered("a", Offer(2));
        Assert.Empty(pool.Grants());
        Assert.True(pool.Assigned("c", "t1", null, 0));
        pool.Returned("b", 1, null);
        Assert.Equal([("a", 1)], pool.Grants());
        Assert.Equal((2, 1), (pool.Promised, pool.Held));
    }

    [Fact]
    public void A_sync_sets_what_is_held_and_promised_whatever_was_lost_before_it()
    {
        var pool = Synced(4, "a");
        pool.Offered("a", Offer(5, count: 2));
        Assert.Equal([("a", 2)], pool.Grants());
        // Both answers to that grant are lost; then a sync: the queue held one task for us at the cut.
        var stamp = pool.StartSync("a", 10, 1000)!.Value;
        pool.Offered("a", Offer(5, count: 1));
        Assert.Equal([("a", 1)], pool.Grants()); // granted after the cut: still promised after the answer
        Assert.True(pool.Synced("a", stamp, ["x"], null, 11));
        Assert.Equal((1, 1, 2), (pool.Held, pool.Promised, pool.Free));
        Assert.False(pool.Synced("a", stamp, ["x"], null, 12)); // answered already
    }

    [Fact]
    public void What_the_pool_let_go_of_after_the_cut_stays_gone_and_a_smaller_pool_grants_nothing_until_below()
    {
        var pool = Synced(3, "a");
        pool.Offered("a", Offer(5, count: 3));
        pool.Grants();
        foreach (var id in new[] { "x", "y", "z" }) pool.Assigned("a", id, null, 0);
        var stamp = pool.StartSync("a", 5, 1000)!.Value;
        pool.Forget("a", "x"); // its report went to the queue after the cut
        pool.Synced("a", stamp, ["x", "y", "z"], null, 6);
        Assert.Equal(2, pool.Held);
        pool.Size = 1;
        pool.Offered("a", Offer(5));
        Assert.Empty(pool.Grants());
        pool.Forget("a", "y");
        Assert.Empty(pool.Grants());
        pool.Forget("a", "z");
        Assert.Equal([("a", 1)], pool.Grants());
    }

    [Fact]
    public void A_heartbeat_that_omits_a_task_held_longer_than_the_ack_timeout_lets_it_go()
    {
        var pool = Synced(4, "a");
        pool.Offered("a", Offer(5, count: 2));
        pool.Grants();
        pool.Assigned("a", "old", null, 0);
        pool.Assigned("a", "new", null, 25_000);
        Assert.Equal([("a", "old")], pool.NotRunning([], 31_000, 30_000));
        Assert.Empty(pool.NotRunning(["old"], 31_000, 30_000));
    }
}
