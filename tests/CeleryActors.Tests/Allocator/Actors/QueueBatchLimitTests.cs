using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>
/// A burst of large tasks against a Redis whose bulk limit is 1 MB: one journal entry for all of them would be
/// refused and every task of it lost; capped entries store them all. Its own Redis, since the limit is lowered.
/// </summary>
public class QueueBatchLimitTests(RedisFixture redis, ITestOutputHelper output)
    : TestKit(AllocatorHarness.SystemConfig(redis.Server.ConnectionString), output: output), IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_burst_of_large_tasks_is_stored_in_entries_under_the_bulk_limit_and_recovered_whole()
    {
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString + ",allowAdmin=true"))
            await admin.GetServers()[0].ConfigSetAsync("proto-max-bulk-len", "1mb");
        var settings = AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)) with
        {
            MaxBatchBytes = 256 * 1024,
        };
        var data = "\"" + new string('d', 100 * 1024) + "\""; // 100 KB of task data each: 3 MB in all
        using (var h = new AllocatorHarness(Sys, redis.Server.ConnectionString, redis.Connection, settings, CreateTestProbe().Ref))
        {
            for (var i = 0; i < 30; i++)
                h.Queues.Tell(new SubmitTask("big", $"t{i}", "job", data, 5, null, null, AllocatorSettings.Now()), ActorRefs.NoSender);
            AwaitAssert(() =>
            {
                var s = h.Queues.Ask<QueueStats>(new GetQueueStats("big"), Wait).Result;
                Assert.Equal((30L, 30, 0), (s.Accepted, s.Pending, s.Unwritten));
            }, Wait);
        }
        // A new actor system reads them all back from the journal.
        var second = ActorSystem.Create("restarted", AllocatorHarness.SystemConfig(redis.Server.ConnectionString));
        try
        {
            using var again = new AllocatorHarness(second, redis.Server.ConnectionString, redis.Connection, settings, CreateTestProbe().Ref);
            var recovered = await again.Queues.Ask<QueueStats>(new GetQueueStats("big"), Wait);
            Assert.Equal((30L, 30), (recovered.Accepted, recovered.Pending));
        }
        finally
        {
            await second.Terminate();
        }
    }
}
