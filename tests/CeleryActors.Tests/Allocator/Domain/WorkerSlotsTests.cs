using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class WorkerSlotsTests
{
    private const long Epoch = 7;
    private readonly List<IQueueCommand> _sent = [];
    private readonly List<WorkerTaskStatus> _ignored = [];

    private static RegisterWorker Registration(int pool, string? instance, params string[] queues) =>
        new("w", queues, new Dictionary<string, CapabilityValue>(), pool, Instance: instance);

    // Slots whose queues all answered a first sync, holding the given tasks of queue "a".
    private WorkerSlots Synced(RegisterWorker registration, params string[] heldOnA)
    {
        var slots = new WorkerSlots(registration, new WorkerReports("w", TimeSpan.FromSeconds(20), _sent.Add, _ignored.Add), _sent.Add);
        slots.BeginIncarnation(Epoch);
        slots.Sync(nowMs: 0, patienceMs: 1_000);
        foreach (var serves in _sent.OfType<WorkerServesQueue>().ToList())
            slots.Synced(new QueueSynced("w", serves.Queue, Epoch, serves.Stamp, serves.Queue == "a" ? heldOnA : [], null),
                nowMs: 0);
        _sent.Clear();
        return slots;
    }

    [Fact]
    public void A_freed_slot_goes_to_the_more_urgent_of_two_queues_offers()
    {
        var slots = Synced(Registration(1, null, "a", "b"), "t1");
        slots.Offered(new TasksWaiting("w", "a", new TaskOffer(2, 10, 1)));
        slots.Offered(new TasksWaiting("w", "b", new TaskOffer(9, 20, 1)));
        Assert.Empty(_sent.OfType<GrantSlots>()); // the pool is full

        slots.Holding(new WorkerTaskStatus("w", "t1", TaskProgress.Succeeded, 1, null));

        var grant = Assert.Single(_sent.OfType<GrantSlots>());
        Assert.Equal(("b", 1, Epoch), (grant.Queue, grant.Count, grant.Epoch));
    }

    [Fact]
    public void A_new_instance_gives_back_everything_and_a_repeat_of_the_same_changes_nothing()
    {
        var slots = Synced(Registration(4, "i1", "a", "b"), "t1", "t2");
        Assert.True(slots.Matches(Registration(4, "i1", "a", "b")));
        Assert.True(slots.Matches(Registration(4, null, "a", "b"))); // an old worker names no instance

        var next = slots.Reregistered(Registration(4, "i2", "a", "b"));

        Assert.Equal(["a", "b"], _sent.OfType<WorkerLeftQueue>().Where(l => l.Reason == RequeueReason.WorkerRestarted)
            .Select(l => l.Queue).Order());
        Assert.Equal(0, next.Pool.Held);
        Assert.Same(slots.Pool, next.Pool);
    }

    [Fact]
    public void A_registration_without_a_queue_leaves_only_that_queue()
    {
        var slots = Synced(Registration(4, "i1", "a", "b"), "t1");
        var next = slots.Reregistered(Registration(2, "i1", "b"));

        var left = Assert.Single(_sent.OfType<WorkerLeftQueue>());
        Assert.Equal(("a", RequeueReason.Reregistered), (left.Queue, left.Reason));
        Assert.Equal((2, 0), (next.Pool.Size, next.Pool.Held));
    }

    [Fact]
    public void A_heartbeat_that_does_not_list_a_held_task_returns_it_once_an_ack_timeout_has_passed()
    {
        var slots = Synced(Registration(2, null, "a"), "t1", "t2");
        slots.Running(["t2"], nowMs: 500, ackTimeoutMs: 1_000);
        Assert.Empty(_sent.OfType<ReturnTask>()); // too early to tell

        slots.Running(["t2"], nowMs: 1_500, ackTimeoutMs: 1_000);
        var returned = Assert.Single(_sent.OfType<ReturnTask>());
        Assert.Equal(("a", "t1", RequeueReason.NotRunning), (returned.Queue, returned.TaskId, returned.Reason));
        Assert.Equal(1, slots.Pool.Held);
    }

    [Fact]
    public void An_outcome_of_a_held_task_frees_its_slot_and_a_report_of_another_is_not_placed()
    {
        var slots = Synced(Registration(1, null, "a"), "t1");
        Assert.Equal("a", slots.Holding(new WorkerTaskStatus("w", "t1", TaskProgress.Succeeded, 1, null)));
        Assert.Equal(0, slots.Pool.Held);
        Assert.Null(slots.Holding(new WorkerTaskStatus("w", "t9", TaskProgress.Succeeded, 1, null)));
    }

    [Fact]
    public void Early_reports_wait_for_their_task_and_are_ignored_when_they_grow_old()
    {
        var reports = new WorkerReports("w", TimeSpan.FromSeconds(20), _sent.Add, _ignored.Add);
        var started = new WorkerTaskStatus("w", "t1", TaskProgress.Started, null, null);
        reports.KeepEarly(started, nowMs: 0);
        reports.KeepEarly(started with { TaskId = "t2" }, nowMs: 0);

        Assert.Equal([started], reports.Assigned("t1"));
        reports.ForgetStale(nowMs: 60_000);
        Assert.Equal(["t2"], _ignored.Select(r => r.TaskId));
        Assert.Empty(reports.Assigned("t2"));
    }

    [Fact]
    public void A_late_report_of_a_task_let_go_finds_its_queue()
    {
        var reports = new WorkerReports("w", TimeSpan.FromSeconds(20), _sent.Add, _ignored.Add);
        reports.Let("a", "t1", nowMs: 0);
        Assert.Equal("a", reports.RecentQueueOf("t1"));
        reports.Assigned("t1"); // allocated again: its reports count again
        Assert.Null(reports.RecentQueueOf("t1"));
    }

    [Fact]
    public void The_incarnation_and_the_time_last_heard_outlive_a_reregistration()
    {
        var slots = Synced(Registration(2, "i1", "a"));
        slots.BeginIncarnation(Epoch + 5); // only the first one counts
        slots.Heard(nowMs: 42, unixSeconds: 1_700_000_000);

        var next = slots.Reregistered(Registration(3, "i1", "a", "b"));
        next.Sync(nowMs: 50, patienceMs: 1_000);

        Assert.Equal((Epoch, 42L, 1_700_000_000d), (next.Epoch, next.LastSeenMs, next.LastHeard));
        Assert.All(_sent.OfType<WorkerServesQueue>(), s => Assert.Equal(Epoch, s.Epoch));
        Assert.Equal(1_700_000_000d, WorkerSlots.Status("w", next, online: true).LastHeartbeat);
    }
}
