using Akka.Actor;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>One pool per worker over all its queues, with queue and worker entities on a real Redis.</summary>
[Collection(AllocatorEntityTestBase.Collection)]
public class WorkerPoolEntityTests(RedisFixture redis, ITestOutputHelper output)
    : AllocatorEntityTestBase(redis, output), IClassFixture<RedisFixture>
{
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
}
