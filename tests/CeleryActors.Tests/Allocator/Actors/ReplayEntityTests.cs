using Akka.Actor;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>Replayed pub/sub messages (taken again after the takers changed) reaching entities that know them, or not.</summary>
[Collection(AllocatorEntityTestBase.Collection)]
public class ReplayEntityTests(RedisFixture redis, ITestOutputHelper output)
    : AllocatorEntityTestBase(redis, output), IClassFixture<RedisFixture>
{
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
