using Akka.Actor;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>Leases on what a worker holds and its liveness, with queue and worker entities on a real Redis.</summary>
[Collection(AllocatorEntityTestBase.Collection)]
public class WorkerLeaseEntityTests(RedisFixture redis, ITestOutputHelper output)
    : AllocatorEntityTestBase(redis, output), IClassFixture<RedisFixture>
{
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
}
