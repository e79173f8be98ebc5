using System.Text.Json;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>
/// Random sequences of registrations (random queues and pools, sometimes a new instance), heartbeats, status
/// reports, publications and silences long enough to be declared offline, against the entities on a real Redis.
/// Simulated workers check every assignment they receive against their pool; at the end, with every worker alive,
/// everything published must have finished exactly once.
/// </summary>
public class AllocatorPoolPropertyTests(RedisFixture redis, ITestOutputHelper testOutput)
    : TestKit(AllocatorHarness.SystemConfig(redis.Server.ConnectionString), output: testOutput), IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData(11)]
    [InlineData(29)]
    public async Task Random_workers_never_exceed_their_pool_and_every_task_finishes_exactly_once(int seed)
    {
        using var h = new AllocatorHarness(Sys, redis.Server.ConnectionString, redis.Connection,
            AllocatorHarness.NewSettings(ack: TimeSpan.FromSeconds(3), worker: TimeSpan.FromSeconds(3)), CreateTestProbe().Ref);
        var sim = new PoolSimulation(h, new Random(seed), this);
        h.Assigned += sim.OnAssigned;
        try
        {
            await sim.Run(steps: 600);
            await sim.Drain(TimeSpan.FromSeconds(90));
        }
        finally
        {
            h.Assigned -= sim.OnAssigned;
            Console.WriteLine($"seed {seed}: {sim.Summary}");
            Output?.WriteLine($"seed {seed}: {sim.Summary}");
            Output?.WriteLine(sim.Trace);
        }

        Assert.True(sim.Violations.Count == 0, string.Join("\n", sim.Violations));
        foreach (var queue in PoolSimulation.QueueNames)
        {
            var published = sim.PublishedIn(queue);
            var stats = await h.Queues.Ask<QueueStats>(new GetQueueStats(queue), Wait);
            Assert.Equal((published.Count, published.Count, 0, 0),
                ((int)stats.Accepted, (int)(stats.Succeeded + stats.Failed), stats.Pending, stats.InFlight));
            var history = await h.Queues.Ask<QueueHistory>(new GetQueueHistory(queue, 1_000), Wait);
            Assert.True(history.Entries.Count < 1_000, "the history must hold the whole run to check it");
            var finishes = history.Entries.Where(e => e.Event is "succeeded" or "failed")
                .GroupBy(e => e.TaskId).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(published.Order(), finishes.Keys.Order());
            Assert.All(finishes, f => Assert.Equal(1, f.Value));
        }
        foreach (var worker in PoolSimulation.WorkerNames)
        {
            var status = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), Wait);
            Assert.Equal(0, status.UnfinishedTasks);
        }
    }
}
