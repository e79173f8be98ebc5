using Akka.Actor;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>Reports that name their queue go to the queue as the node's intake sends them (<see cref="WireRouting"/>),
/// past the worker's entity, which still frees the slot, keeps the worker online and shows its gauges.</summary>
[Collection(AllocatorEntityTestBase.Collection)]
public class DirectReportEntityTests(RedisFixture redis, ITestOutputHelper output)
    : AllocatorEntityTestBase(redis, output), IClassFixture<RedisFixture>
{
    private static void ReportToQueue(AllocatorHarness h, string worker, string task, TaskProgress progress) =>
        WireRouting.Send(new WorkerTaskStatus(worker, task, progress, progress >= TaskProgress.Succeeded ? 0.01 : null,
            null, Queue: Q), h.Queues, h.Workers);

    [Fact]
    public void A_finish_reported_to_the_queue_frees_the_slot_and_the_started_gauge_follows()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        for (var i = 0; i < 3; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);

        ReportToQueue(h, "w", "t0", TaskProgress.Received);
        ReportToQueue(h, "w", "t0", TaskProgress.Started);
        var active = h.Metrics.WorkerActiveTasks.WithLabels("w", SeriesSource.Allocator);
        AwaitAssert(() => Assert.Equal(1.0, active.Value), Wait);

        ReportToQueue(h, "w", "t0", TaskProgress.Succeeded);
        // The queue told the worker's entity of the freed slot, which it granted again: the pool of 1 holds.
        AwaitAssert(() => Assert.Equal(["t0", "t1"], h.For("w").Select(a => a.TaskId)), Wait);
        AwaitAssert(() => Assert.Equal((1L, 1, 1), (Stats(h).Succeeded, Stats(h).InFlight, Stats(h).Pending)), Wait);
        Assert.Equal(1, Unfinished(h, "w"));
        AwaitAssert(() => Assert.Equal(0.0, active.Value), Wait); // t1 is not started
    }

    [Fact]
    public async Task A_worker_heard_only_through_its_queues_stays_online_past_its_timeout()
    {
        var timeout = TimeSpan.FromSeconds(1.5);
        using var h = Start(worker: timeout);
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        h.Queues.Tell(NewTask("long"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);
        ReportToQueue(h, "w", "long", TaskProgress.Started);
        // Twice the worker timeout with no heartbeat, only reports to the queue; a silent worker is offline after one.
        for (var i = 0; i < 10; i++)
        {
            ExpectNoMsg(timeout * 0.2);
            ReportToQueue(h, "w", "long", TaskProgress.Started);
        }
        var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("w"), Wait);
        Assert.Equal((true, 1), (status.Online, status.UnfinishedTasks));
        Assert.Equal((0L, 1), (Stats(h).Requeued, Stats(h).InFlight));
    }

    [Fact]
    public async Task A_restarted_worker_entity_is_confirmed_by_a_report_its_queue_took()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        h.Queues.Tell(NewTask("held"), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("next"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);
        await StopEntity(h.Workers, "w");
        // Its successor recovers the registration offline; the queue hears the worker and says so.
        Assert.False((await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("w"), Wait)).Online);
        ReportToQueue(h, "w", "held", TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(["held", "next"], h.For("w").Select(a => a.TaskId)), Wait);
        var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus("w"), Wait);
        Assert.Equal((true, 1), (status.Online, status.UnfinishedTasks));
    }

    [Fact]
    public void A_strangers_report_to_the_queue_is_ignored_counted_and_frees_nobodys_slot()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("holder", [Q], NoCaps, 1));
        h.Queues.Tell(NewTask("t"), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("u"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Single(h.For("holder")), Wait);
        ReportToQueue(h, "stranger", "t", TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(1, h.Allocator.TaskReportsIgnored.WithLabels(IgnoredReport.NotHolder).Value), Wait);
        Assert.Equal((0L, 1, 1), (Stats(h).Succeeded, Stats(h).InFlight, Stats(h).Pending));
        Assert.Single(h.For("holder"));
    }
}
