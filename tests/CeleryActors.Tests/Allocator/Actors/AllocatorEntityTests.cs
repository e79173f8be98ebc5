using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

public class AllocatorEntityTests(RedisFixture redis, ITestOutputHelper output)
    : TestKit(AllocatorHarness.SystemConfig(redis.Server.ConnectionString), output: output), IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly Dictionary<string, CapabilityValue> NoCaps = new();
    private const string Q = "work";

    private AllocatorHarness Start(TimeSpan? ack = null, TimeSpan? worker = null, int snapshotEvery = 1_000) =>
        new(Sys, redis.Server.ConnectionString, redis.Connection,
            AllocatorHarness.NewSettings(ack ?? TimeSpan.FromSeconds(30), worker ?? TimeSpan.FromSeconds(30), snapshotEvery),
            CreateTestProbe().Ref);

    private static SubmitTask NewTask(string id, int priority = 5, Dictionary<string, CapabilityValue>? requires = null) =>
        new(Q, id, "job", "{}", priority, requires, null, AllocatorSettings.Now());

    private QueueStats Stats(AllocatorHarness h) => h.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait).Result;

    private static void Report(AllocatorHarness h, string worker, string task, TaskProgress progress) =>
        h.Workers.Tell(new WorkerTaskStatus(worker, task, progress, progress >= TaskProgress.Succeeded ? 0.01 : null,
            progress == TaskProgress.Failed ? "Boom" : null));

    [Fact]
    public void No_worker_ever_holds_more_than_its_pool_and_a_finished_task_frees_one_slot()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("a", [Q], NoCaps, 2));
        h.Workers.Tell(new RegisterWorker("b", [Q], NoCaps, 3));
        AwaitAssert(() => Assert.Equal(2, Stats(h).Consumers), Wait);
        for (var i = 0; i < 10; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);

        AwaitAssert(() => Assert.Equal(5, h.Assignments.Count), Wait);
        var stats = Stats(h);
        Assert.Equal((10L, 5, 5), (stats.Accepted, stats.InFlight, stats.Pending));
        Assert.Equal(2, h.For("a").Count);
        Assert.Equal(3, h.For("b").Count);

        // Gauges follow within a liveness check: allocated and not started is reserved, started is active.
        Report(h, "b", h.For("b")[0].TaskId, TaskProgress.Started);
        AwaitAssert(() =>
        {
            Assert.Equal((0.0, 2.0), (h.Metrics.WorkerActiveTasks.WithLabels("a", SeriesSource.Allocator).Value, h.Metrics.WorkerReservedTasks.WithLabels("a", SeriesSource.Allocator).Value));
            Assert.Equal((1.0, 2.0), (h.Metrics.WorkerActiveTasks.WithLabels("b", SeriesSource.Allocator).Value, h.Metrics.WorkerReservedTasks.WithLabels("b", SeriesSource.Allocator).Value));
            Assert.Equal((2.0, 3.0), (h.Metrics.WorkerPoolSize.WithLabels("a", SeriesSource.Allocator).Value, h.Metrics.WorkerPoolSize.WithLabels("b", SeriesSource.Allocator).Value));
        }, Wait);

        var done = h.For("a")[0].TaskId;
        Report(h, "a", done, TaskProgress.Received);
        Report(h, "a", done, TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(3, h.For("a").Count), Wait);
        Assert.Equal(3, h.For("b").Count);
        AwaitAssert(() => Assert.Equal((1L, 4), (Stats(h).Succeeded, Stats(h).Pending)), Wait);
    }

    [Fact]
    public async Task A_full_queue_refuses_new_tasks_counts_them_and_tells_a_client_and_takes_tasks_again_once_there_is_room()
    {
        using var h = new AllocatorHarness(Sys, redis.Server.ConnectionString, redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)) with { MaxPending = 3 },
            CreateTestProbe().Ref);
        for (var i = 0; i < 5; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("t0"), ActorRefs.NoSender); // a duplicate of a waiting task stays a duplicate
        var refused = await h.Queues.Ask<object>(NewTask("client"), Wait);
        Assert.Contains("holds 3 waiting tasks", Assert.IsType<TaskRefused>(refused).Reason);
        var rejected = h.Metrics.MessagesRejected.WithLabels("tasks", "queue_full");
        AwaitAssert(() =>
        {
            var s = Stats(h);
            Assert.Equal((3L, 3, 1L), (s.Accepted, s.Pending, s.Duplicates));
            Assert.Equal(3, rejected.Value); // t3, t4 and the client's
        }, Wait);

        // A worker takes one: there is room for one more.
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(NewTask("after"), Wait));
        AwaitAssert(() => Assert.Equal((4L, 3), (Stats(h).Accepted, Stats(h).Pending)), Wait);
    }

    [Fact]
    public async Task Past_the_cap_of_queues_a_new_queue_stores_nothing_its_tasks_are_refused_and_counted_and_it_passivates()
    {
        using var h = new AllocatorHarness(Sys, redis.Server.ConnectionString, redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)) with
            {
                MaxQueues = 2,
                IdleUnregistered = TimeSpan.FromSeconds(2),
            }, CreateTestProbe().Ref);
        SubmitTask On(string queue, string id) => NewTask(id) with { Queue = queue };
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(On("q1", "a"), Wait));
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(On("q2", "b"), Wait));

        // A third queue gets no place: the client hears why, pub/sub copies are counted, nothing is stored.
        var refused = Assert.IsType<TaskRefused>(await h.Queues.Ask<object>(On("q3", "c"), Wait));
        Assert.Contains("ALLOCATOR_MAX_QUEUES", refused.Reason);
        h.Queues.Tell(On("q3", "d"), ActorRefs.NoSender);
        var rejected = h.Metrics.MessagesRejected.WithLabels("tasks", "too_many_queues");
        AwaitAssert(() => Assert.Equal(2, rejected.Value), Wait);
        Assert.Equal(0, (await h.Queues.Ask<QueueStats>(new GetQueueStats("q3"), Wait)).Accepted);
        var listed = await redis.Connection.GetDatabase().SetMembersAsync(h.Settings.QueuesKey);
        Assert.Equal(["q1", "q2"], listed.Select(v => v.ToString()).Order());
        var server = redis.Connection.GetServers()[0];
        Assert.Empty(server.Keys(pattern: "*queue-" + h.Settings.Channels.Prefix + "q3*")); // no journal, no snapshot
        Assert.NotEmpty(server.Keys(pattern: "*queue-" + h.Settings.Channels.Prefix + "q1*")); // the pattern finds them

        // Left alone, the refused entity passivates; the queues that have a place still take tasks.
        var q3 = await Sys.ActorSelection(h.Queues.Path / "q3").ResolveOne(Wait);
        Watch(q3);
        ExpectTerminated(q3, Wait);
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(On("q1", "e"), Wait));
    }

    [Fact]
    public void Reports_on_a_task_the_worker_does_not_hold_are_kept_a_moment_within_a_bound_then_ignored_and_counted()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        var ignored = h.Allocator.TaskReportsIgnored.WithLabels("unknown_task");
        // The same unknown task reported over and over: a reply that wins the race with its assignment has a few
        // reports, so past a handful they are ignored at once instead of piling up.
        for (var i = 0; i < 40; i++) Report(h, "w", "held-by-nobody", TaskProgress.Started);
        AwaitAssert(() => Assert.Equal(32, ignored.Value), Wait);
        // The ones kept are dropped (and counted) once they are seconds old and still nobody's.
        AwaitAssert(() => Assert.Equal(40, ignored.Value), TimeSpan.FromSeconds(15));
    }

    // Entities that hold nothing passivate after 2 s without messages.
    private AllocatorHarness StartIdling(TimeSpan workerTimeout) =>
        new(Sys, redis.Server.ConnectionString, redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), workerTimeout) with { IdleUnregistered = TimeSpan.FromSeconds(2) },
            CreateTestProbe().Ref);

    // The region starts an entity when it takes its first message, a moment after the Tell.
    private async Task<IActorRef> WorkerEntity(AllocatorHarness h, string worker)
    {
        IActorRef entity = ActorRefs.Nobody;
        await AwaitAssertAsync(async () => entity = await Sys.ActorSelection(h.Workers.Path / worker).ResolveOne(Wait),
            TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(20));
        return entity;
    }

    [Fact]
    public async Task Heartbeats_of_a_worker_nobody_registered_are_counted_as_rejected_and_its_entity_passivates()
    {
        using var h = StartIdling(workerTimeout: TimeSpan.FromSeconds(30));
        h.Workers.Tell(new WorkerHeartbeat("ghost"));
        var ghost = await WorkerEntity(h, "ghost");
        Watch(ghost);
        h.Workers.Tell(new UnregisterWorker("ghost"));
        var rejected = h.Metrics.MessagesRejected.WithLabels("workers_control", "unknown_worker");
        AwaitAssert(() => Assert.Equal(2, rejected.Value), Wait);
        ExpectTerminated(ghost, Wait); // idle: gone, holding nothing

        // A registered worker is not passivated however long it stays quiet, and nothing about it is rejected.
        h.Workers.Tell(new RegisterWorker("real", [Q], NoCaps, 1));
        Watch(await WorkerEntity(h, "real"));
        ExpectNoMsg(TimeSpan.FromSeconds(3)); // longer than the idle time of an unregistered one
        h.Workers.Tell(new WorkerHeartbeat("real"));
        Assert.True((await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("real"), Wait)).Online);
        Assert.Equal(2, rejected.Value);
    }

    [Fact]
    public async Task An_offline_worker_entity_passivates_when_idle_and_its_worker_speaking_brings_it_back_online()
    {
        using var h = StartIdling(workerTimeout: TimeSpan.FromSeconds(1));
        h.Workers.Tell(new RegisterWorker("quiet", [Q], NoCaps, 1));
        var quiet = await WorkerEntity(h, "quiet");
        Watch(quiet);
        // Silent past its timeout: offline, holding nothing; its own liveness ticks do not keep it alive.
        ExpectTerminated(quiet, TimeSpan.FromSeconds(10));

        h.Workers.Tell(new WorkerHeartbeat("quiet"));
        var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("quiet"), Wait);
        Assert.Equal((true, true), (status.Registered, status.Online));
    }

    [Fact]
    public async Task A_queue_entity_that_stops_is_started_again_by_its_supervisor_and_recovers()
    {
        using var h = new AllocatorHarness(Sys, redis.Server.ConnectionString, redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)), CreateTestProbe().Ref, supervised: true);
        for (var i = 0; i < 5; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        // Stopped only once all five are stored: what was not stored yet is not expected back.
        AwaitAssert(() => Assert.Equal((5L, 0), (Stats(h).Accepted, Stats(h).Unwritten)), Wait);
        var supervisor = await Sys.ActorSelection(h.Queues.Path / Q).ResolveOne(Wait);
        var child = (await supervisor.Ask<Akka.Pattern.BackoffSupervisor.CurrentChild>(
            Akka.Pattern.BackoffSupervisor.GetCurrentChild.Instance, Wait)).Ref!;
        Watch(child);
        child.Tell(PoisonPill.Instance); // as a failed journal write would stop it
        ExpectTerminated(child, Wait);
        await AwaitAssertAsync(async () =>
        {
            var current = (await supervisor.Ask<Akka.Pattern.BackoffSupervisor.CurrentChild>(
                Akka.Pattern.BackoffSupervisor.GetCurrentChild.Instance, Wait)).Ref;
            Assert.NotNull(current);
            Assert.NotEqual(child, current);
        }, Wait);
        // Asked only once the new child runs: a message during the back-off pause goes nowhere.
        var stats = await h.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait);
        Assert.Equal((5L, 5), (stats.Accepted, stats.Pending));
    }

    [Fact]
    public void A_burst_of_mixed_priorities_is_allocated_highest_first_and_fifo_within_a_priority()
    {
        using var h = Start();
        var random = new Random(42);
        var burst = Enumerable.Range(0, 200).Select(i => NewTask($"t{i:D3}", random.Next(0, 10))).ToList();
        foreach (var task in burst) h.Queues.Tell(task);
        AwaitAssert(() => Assert.Equal(200, Stats(h).Pending), Wait);

        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 500));
        AwaitAssert(() => Assert.Equal(200, h.Assignments.Count), Wait);
        var expected = burst.Select((t, i) => (t, i)).OrderByDescending(x => x.t.Priority).ThenBy(x => x.i).Select(x => x.t.TaskId);
        Assert.Equal(expected, h.Assignments.Select(a => a.TaskId));
    }

    private QueueStats Stats(AllocatorHarness h, string queue) =>
        h.Queues.Ask<QueueStats>(new GetQueueStats(queue), Wait).Result;

    private static int Unfinished(AllocatorHarness h, string worker) =>
        h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), Wait).Result.UnfinishedTasks;

    private static SubmitTask On(string queue, string id, int priority = 5, Dictionary<string, CapabilityValue>? requires = null) =>
        NewTask(id, priority, requires) with { Queue = queue };

    [Fact]
    public void A_pool_of_2_over_three_queues_with_work_only_on_the_third_runs_2()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", ["qa", "qb", "qc"], NoCaps, 2));
        for (var i = 0; i < 4; i++) h.Queues.Tell(On("qc", $"c{i}"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(2, h.For("w").Count), Wait);
        AwaitAssert(() => Assert.Equal((2, 2, 1), (Stats(h, "qc").InFlight, Stats(h, "qc").Pending, Stats(h, "qc").Consumers)), Wait);
        Assert.Equal(2, Unfinished(h, "w"));
    }

    [Fact]
    public void A_pool_of_4_over_three_queues_runs_4_of_one_queues_tasks_and_a_finish_frees_a_slot_for_any_queue()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", ["qa", "qb", "qc"], NoCaps, 4));
        for (var i = 0; i < 6; i++) h.Queues.Tell(On("qb", $"b{i}"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(4, h.For("w").Count), Wait);
        h.Queues.Tell(On("qa", "a0", priority: 9), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(1, Stats(h, "qa").Pending), Wait);
        Assert.Equal(4, h.For("w").Count); // full: the urgent one waits
        Report(h, "w", "b0", TaskProgress.Succeeded);
        // The freed slot takes the most urgent task of all its queues: qa's priority 9 before qb's priority 5.
        AwaitAssert(() => Assert.Equal(5, h.For("w").Count), Wait);
        Assert.Equal("a0", h.For("w")[4].TaskId);
        Assert.Equal(4, Unfinished(h, "w"));
    }

    [Fact]
    public void With_equal_priorities_a_freed_slot_takes_the_task_that_waited_longest_in_any_queue()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", ["qa", "qb"], NoCaps, 1));
        h.Queues.Tell(On("qa", "first"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.For("w")), Wait);
        h.Queues.Tell(On("qb", "older") with { ArrivedAt = AllocatorSettings.Now() - 5 }, ActorRefs.NoSender);
        h.Queues.Tell(On("qa", "newer"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal((1, 1), (Stats(h, "qa").Pending, Stats(h, "qb").Pending)), Wait);
        Report(h, "w", "first", TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(["first", "older"], h.For("w").Select(a => a.TaskId)), Wait);
    }

    [Fact]
    public void Five_hundred_unplaceable_priority_9_tasks_do_not_delay_a_placeable_priority_0_task()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("cpu", [Q], NoCaps, 2));
        for (var i = 0; i < 500; i++)
            h.Queues.Tell(NewTask($"gpu{i}", 9, new() { ["gpu"] = CapabilityValue.Of(1) }), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("plain", 0), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(["plain"], h.Assignments.Select(a => a.TaskId)), Wait);
        Assert.Equal(500, Stats(h).Pending);
    }

    [Fact]
    public async Task A_registration_with_a_new_instance_returns_what_the_old_process_held_and_the_same_instance_changes_nothing()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2, Instance: "boot-1"));
        h.Queues.Tell(NewTask("t0"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.For("w")), Wait);
        Report(h, "w", "t0", TaskProgress.Started);
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2, Instance: "boot-1"));
        AwaitAssert(() => Assert.Equal(1, Stats(h).InFlight), Wait);
        Assert.Equal(0, Stats(h).Requeued);

        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2, Instance: "boot-2"));
        AwaitAssert(() => Assert.Equal([("t0", 1), ("t0", 2)], h.For("w").Select(a => (a.TaskId, a.Attempt))), Wait);
        var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("w"), Wait);
        Assert.Equal(("boot-2", 1), (status.Instance, status.UnfinishedTasks));
        Assert.Equal(1, Stats(h).Requeued);
    }

    [Fact]
    public void A_heartbeat_that_omits_a_task_held_past_the_ack_timeout_returns_it()
    {
        using var h = Start(ack: TimeSpan.FromSeconds(1));
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2));
        h.Queues.Tell(NewTask("kept"), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("lost"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(2, h.For("w").Count), Wait);
        Report(h, "w", "kept", TaskProgress.Received);
        Report(h, "w", "lost", TaskProgress.Received);
        // Listed tasks stay; the one the process no longer has goes back once it is older than the ack timeout.
        AwaitAssert(() =>
        {
            h.Workers.Tell(new WorkerHeartbeat("w", Running: ["kept"]));
            Assert.Equal([("lost", 2)], h.For("w").Where(a => a.Attempt > 1).Select(a => (a.TaskId, a.Attempt)));
        }, Wait, TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, Stats(h).Requeued);
    }

    [Fact]
    public void A_report_from_a_worker_that_never_held_the_task_is_ignored_and_counted()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("holder", [Q], NoCaps, 1));
        h.Workers.Tell(new RegisterWorker("stranger", ["elsewhere"], NoCaps, 1));
        h.Queues.Tell(NewTask("t"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.For("holder")), Wait);
        h.Workers.Tell(new WorkerTaskStatus("stranger", "t", TaskProgress.Succeeded, 1, null, Queue: Q));
        AwaitAssert(() => Assert.Equal(1, h.Allocator.TaskReportsIgnored.WithLabels(IgnoredReport.NotHolder).Value), Wait);
        Assert.Equal((0L, 1), (Stats(h).Succeeded, Stats(h).InFlight));
        Report(h, "holder", "t", TaskProgress.Succeeded);
        Report(h, "holder", "t", TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(1, h.Allocator.TaskReportsIgnored.WithLabels(IgnoredReport.AlreadyFinished).Value), Wait);
        Assert.Equal(1L, Stats(h).Succeeded);
    }

    [Fact]
    public void A_task_needing_a_gpu_waits_until_such_a_worker_registers()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("cpu", [Q], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(16) }, 4));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        h.Queues.Tell(NewTask("needs-gpu", 9, new() { ["gpu"] = CapabilityValue.Of(1) }), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("plain", 1), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(["plain"], h.Assignments.Select(a => a.TaskId)), Wait);
        var waiting = Stats(h);
        Assert.Equal((1, 1), (waiting.Pending, waiting.PendingByPriority[9]));

        h.Workers.Tell(new RegisterWorker("gpu", [Q], new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(2) }, 1));
        AwaitAssert(() => Assert.Equal(["needs-gpu"], h.For("gpu").Select(a => a.TaskId)), Wait);
        Assert.Equal(0, Stats(h).Pending);
    }

    [Fact]
    public void An_assignment_never_acknowledged_is_allocated_again_with_the_same_id_and_attempt_2()
    {
        using var h = Start(ack: TimeSpan.FromSeconds(1));
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 5));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        h.Queues.Tell(NewTask("t1"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal([("t1", 1)], h.Assignments.Select(a => (a.TaskId, a.Attempt))), Wait);
        AwaitAssert(() => Assert.Equal([("t1", 1), ("t1", 2)], h.Assignments.Select(a => (a.TaskId, a.Attempt))), Wait);

        Report(h, "w", "t1", TaskProgress.Received);
        Report(h, "w", "t1", TaskProgress.Succeeded);
        AwaitAssert(() =>
        {
            var s = Stats(h);
            Assert.Equal((1L, 1L, 2L, 1L, 0, 0), (s.Accepted, s.Succeeded, s.Allocated, s.Requeued, s.InFlight, s.Pending));
        }, Wait);
    }

    [Fact]
    public async Task A_worker_that_stops_heartbeating_loses_its_tasks_to_another_and_nothing_completes_twice()
    {
        using var h = Start(worker: TimeSpan.FromSeconds(1.5));
        h.Workers.Tell(new RegisterWorker("quiet", [Q], NoCaps, 3));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        for (var i = 0; i < 3; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal(3, h.For("quiet").Count), Wait);
        foreach (var a in h.For("quiet")) Report(h, "quiet", a.TaskId, TaskProgress.Received);

        h.Workers.Tell(new RegisterWorker("alive", [Q], NoCaps, 3));
        AwaitAssert(() =>
        {
            h.Workers.Tell(new WorkerHeartbeat("alive")); // keeps talking while the other is silent
            Assert.Equal(3, h.For("alive").Count);
        }, Wait, TimeSpan.FromMilliseconds(200));
        Assert.All(h.For("alive"), a => Assert.Equal(2, a.Attempt));
        Assert.Equal(["t0", "t1", "t2"], h.For("alive").Select(a => a.TaskId).Order());

        foreach (var a in h.For("alive"))
        {
            Report(h, "alive", a.TaskId, TaskProgress.Received);
            Report(h, "alive", a.TaskId, TaskProgress.Started);
            Report(h, "alive", a.TaskId, TaskProgress.Succeeded);
        }
        // The silent worker wakes up and reports one of them done as well: it must not count twice.
        h.Workers.Tell(new WorkerHeartbeat("quiet"));
        Report(h, "quiet", "t0", TaskProgress.Succeeded);
        AwaitAssert(() =>
        {
            var s = Stats(h);
            Assert.Equal((3L, 3L, 0L, 3L, 0, 0), (s.Accepted, s.Succeeded, s.Failed, s.Requeued, s.InFlight, s.Pending));
        }, Wait);
        var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("alive"), Wait);
        Assert.Equal((true, 0), (status.Online, status.UnfinishedTasks));
    }

    [Fact]
    public async Task A_queue_entity_recovers_pending_tasks_assignments_and_statistics_from_the_redis_journal()
    {
        var settings = AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), snapshotEvery: 5);
        QueueStats before;
        List<string> pendingBefore;
        using (var h = new AllocatorHarness(Sys, redis.Server.ConnectionString, redis.Connection, settings, CreateTestProbe().Ref))
        {
            h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2));
            AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
            for (var i = 0; i < 9; i++) h.Queues.Tell(NewTask($"t{i}", i % 3 * 4), ActorRefs.NoSender);
            AwaitAssert(() => Assert.Equal(2, h.Assignments.Count), Wait);
            var first = h.Assignments.First().TaskId;
            Report(h, "w", first, TaskProgress.Received);
            Report(h, "w", first, TaskProgress.Failed);
            // The third assignment is published only after its event, the last one, is in the journal.
            AwaitAssert(() => Assert.Equal(3, h.Assignments.Count), Wait);
            before = Stats(h);
            pendingBefore = (await h.Queues.Ask<QueueHistory>(new GetQueueHistory(Q, 1000), Wait)).Entries
                .Select(e => e.Event + ":" + e.TaskId).ToList();
        }

        // Snapshots were taken (every 5 events here) and the events they cover deleted.
        var pid = "queue-" + settings.Channels.Prefix + Q;
        var server = redis.Connection.GetServers()[0];
        await AwaitAssertAsync(async () =>
        {
            var snapshotKeys = server.Keys(pattern: "akka:persistence:s:*" + pid + "*").ToList();
            Assert.NotEmpty(snapshotKeys);
            var events = server.Keys(pattern: "akka:persistence:j:*" + pid + "*:events").Single();
            var highest = server.Keys(pattern: "akka:persistence:j:*" + pid + "*:highest").Single();
            var stored = await redis.Connection.GetDatabase().SortedSetLengthAsync(events);
            Assert.True(stored < (long)await redis.Connection.GetDatabase().StringGetAsync(highest),
                $"{stored} journal entries kept; older ones should be deleted");
        }, Wait);

        var second = ActorSystem.Create("restarted", AllocatorHarness.SystemConfig(redis.Server.ConnectionString));
        try
        {
            using var h2 = new AllocatorHarness(second, redis.Server.ConnectionString, redis.Connection, settings, CreateTestProbe().Ref);
            var after = await h2.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait);
            Assert.Equal(before with { PendingByPriority = null!, Consumers = 0, Duplicates = 0 },
                after with { PendingByPriority = null! });
            Assert.Equal(before.PendingByPriority, after.PendingByPriority);
            Assert.Equal((6, 2, 9L, 3L, 1L), (after.Pending, after.InFlight, after.Accepted, after.Allocated, after.Failed));
            var history = (await h2.Queues.Ask<QueueHistory>(new GetQueueHistory(Q, 1000), Wait)).Entries
                .Select(e => e.Event + ":" + e.TaskId).ToList();
            Assert.Equal(pendingBefore, history);
            // A duplicate of a recovered task is still a duplicate.
            h2.Queues.Tell(NewTask("t5"), ActorRefs.NoSender);
            await AwaitAssertAsync(async () => Assert.Equal(1, (await h2.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait)).Duplicates), Wait);
        }
        finally
        {
            await second.Terminate();
        }
    }
    private async Task<IActorRef> StopEntity(IActorRef region, string id)
    {
        var entity = await Sys.ActorSelection(region.Path / id).ResolveOne(Wait);
        Watch(entity);
        entity.Tell(PoisonPill.Instance); // as if its node had died
        ExpectTerminated(entity, Wait);
        return entity;
    }

    [Fact]
    public async Task A_queue_that_starts_again_learns_its_workers_from_their_announcements_and_allocates_on()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        for (var i = 0; i < 3; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal((1, 0), (h.Assignments.Count, Stats(h).Unwritten)), Wait);

        await StopEntity(h.Queues, Q);
        // The next message starts it again from the journal, knowing no worker; the worker's next announcement
        // (twice a second) tells it, and it takes the held task into account.
        AwaitAssert(() => Assert.Equal((1, 1, 2), (Stats(h).Consumers, Stats(h).InFlight, Stats(h).Pending)), Wait);
        Report(h, "w", h.Assignments.Single().TaskId, TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(2, h.Assignments.Count), Wait);
        Assert.All(h.Assignments, a => Assert.Equal(1, a.Attempt));
    }

    [Fact]
    public async Task A_worker_entity_that_starts_again_asks_its_queues_what_it_holds_so_its_reports_count()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        h.Queues.Tell(NewTask("held"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);

        await StopEntity(h.Workers, "w");
        // Its successor recovers the registration and learns from the queue that it holds "held"; the report is
        // routed to the queue rather than kept as a report about a task the worker does not hold.
        h.Workers.Tell(new WorkerHeartbeat("w"));
        Report(h, "w", "held", TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal((1L, 0), (Stats(h).Succeeded, Stats(h).InFlight)), Wait);
        var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("w"), Wait);
        Assert.Equal((true, 0), (status.Online, status.UnfinishedTasks));
    }

    [Fact]
    public async Task A_replayed_report_reaches_the_queue_that_holds_its_task_before_the_restarted_worker_entity_knows_it()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", ["other", Q], NoCaps, 2));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        h.Queues.Tell(NewTask("held"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);

        await StopEntity(h.Workers, "w");
        // A survivor's replay reaches the successor before the worker speaks, so it has not asked its queues what it
        // holds: the report goes to each of them, and the one that holds the task finishes it.
        h.Workers.Tell(new WorkerTaskStatus("w", "held", TaskProgress.Succeeded, 0.01, null, Replayed: true));
        AwaitAssert(() => Assert.Equal((1L, 0), (Stats(h).Succeeded, Stats(h).InFlight)), Wait);
        // The queue that did not hold it ignored it without counting: a replay repeats what was counted.
        Assert.Equal(0, h.Allocator.TaskReportsIgnored.WithLabels(IgnoredReport.UnknownTask).Value);
        Assert.False((await Status(h, "w")).Online);
    }

    private Task<WorkerStatus> Status(AllocatorHarness h, string worker) =>
        h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), Wait);

    [Fact]
    public async Task A_replayed_registration_fills_in_one_the_entity_never_had()
    {
        using var h = Start();
        // Taken by nobody while the nodes changed, or by a node that died before it was stored: the replay is all
        // that is left of it, and it is at most the replay window old.
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2, Replayed: true));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        var status = await Status(h, "w");
        Assert.Equal((true, true, 2), (status.Registered, status.Online, status.PoolSize));
    }

    [Fact]
    public async Task Replayed_control_messages_never_change_or_end_a_registration()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        // Old news of a worker that registered again since: neither undoes what the entity knows now.
        h.Workers.Tell(new UnregisterWorker("w", Replayed: true));
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 7, Replayed: true));
        var status = await Status(h, "w");
        Assert.Equal((true, true, 2), (status.Registered, status.Online, status.PoolSize));
        // The same unregistration heard live does take effect.
        h.Workers.Tell(new UnregisterWorker("w"));
        Assert.False((await Status(h, "w")).Registered);
    }

    [Fact]
    public async Task A_replayed_status_report_does_not_bring_an_offline_worker_back()
    {
        using var h = Start(worker: TimeSpan.FromSeconds(1));
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        await AwaitAssertAsync(async () => Assert.False((await Status(h, "w")).Online), Wait);

        // Twenty-second-old news from a survivor's replay: the worker may have died with the node.
        h.Workers.Tell(new WorkerTaskStatus("w", "some-task", TaskProgress.Started, null, null, Replayed: true));
        Assert.False((await Status(h, "w")).Online);
        // The worker speaking now does.
        h.Workers.Tell(new WorkerHeartbeat("w"));
        Assert.True((await Status(h, "w")).Online);
    }

    [Fact]
    public void A_replayed_task_the_queue_knows_is_no_duplicate_and_one_it_lost_is_accepted()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        h.Queues.Tell(NewTask("t0"), ActorRefs.NoSender);
        // Taken again after the takers changed: "t0" was taken before, "t1" only by a node that died.
        h.Queues.Tell(NewTask("t0") with { Replayed = true }, ActorRefs.NoSender);
        h.Queues.Tell(NewTask("t1") with { Replayed = true }, ActorRefs.NoSender);
        // A producer's repeat of "t0" is still one duplicate: the replay did not hide it.
        h.Queues.Tell(NewTask("t0"), ActorRefs.NoSender);

        AwaitAssert(() =>
        {
            var stats = Stats(h);
            Assert.Equal((2L, 1L, 1), (stats.Accepted, stats.Duplicates, stats.InFlight));
            Assert.Equal(1, h.Allocator.TaskDuplicates.WithLabels(Q).Value);
        }, Wait);
        Assert.Single(h.Assignments);
    }
}
