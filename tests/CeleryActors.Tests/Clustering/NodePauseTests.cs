using System.Diagnostics;
using System.Text.Json;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Clustering;

/// <summary>
/// A node frozen with SIGSTOP for 20 s, as a long GC pause would, while tasks flow, then continued: the other two
/// down it and take over its queues, and when it wakes up it finds itself removed and stops. It wakes up still
/// believing it runs its queues (and the shard coordinator: it is the oldest node), so for a moment two nodes
/// hold the same entities: the journal, which takes a write only from whoever continues from its highest sequence
/// number, and assignments published only after their write, keep that from allocating a task twice. The tasks come
/// through the durable intake (streams), so none is lost either.
/// </summary>
public class NodePauseTests(ITestOutputHelper output)
{
    private const int Queues = 6;
    private const string Worker = "pause-w";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_node_paused_for_20_s_causes_no_split_brain_allocates_no_task_twice_and_the_cluster_settles()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        var ports = Enumerable.Range(0, 3).Select(_ => FreePort.Find()).ToArray();
        HostNodeProcess Launch(int i) => HostNodeProcess.Launch(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["CLUSTER_PORT"] = ports[i].ToString(),
            ["CLUSTER_SEEDS"] = $"127.0.0.1:{ports[0]}",
            ["ALLOCATOR_ACK_TIMEOUT"] = "30",
            ["ALLOCATOR_WORKER_TIMEOUT"] = "30",
        });
        await using var oldest = Launch(0);
        await oldest.WaitUntilReadyAsync(Within);
        await using var b = Launch(1);
        await using var c = Launch(2);
        await b.WaitUntilReadyAsync(Within);
        await c.WaitUntilReadyAsync(Within);
        HostNodeProcess[] survivors = [b, c];
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        await Eventually.Holds(async () =>
        {
            foreach (var node in new[] { oldest, b, c })
                Assert.Equal(3, (await node.GetJsonAsync("/health/ready")).GetProperty("up_members").GetInt32());
            Assert.Equal(3, await client.GetServers()[0].SubscriptionSubscriberCountAsync(RedisChannel.Literal("task-status")));
        }, Within);

        var publisher = client.GetSubscriber();
        // The worker finishes every assignment at once; it heartbeats every second (below, with the producer).
        var assignments = await SimulatedWorker.StartAsync(publisher, Worker);
        var queues = Enumerable.Range(0, Queues).Select(i => $"pq{i}").ToArray();
        var register = $$"""{"type":"register","worker":"{{Worker}}","queues":{{JsonSerializer.Serialize(queues)}},"pool_size":64}""";
        await Eventually.Holds(async () =>
        {
            await publisher.PublishAsync(RedisChannel.Literal("workers:control"), register);
            Assert.Contains(Worker, await b.Http.GetStringAsync("/api/workers"));
        }, Within);

        using var stop = new CancellationTokenSource();
        var published = 0;
        var producing = Task.Run(async () =>
        {
            var tick = 0;
            while (!stop.IsCancellationRequested)
            {
                if (tick++ % 10 == 0)
                    await publisher.PublishAsync(RedisChannel.Literal("workers:control"), $$"""{"type":"heartbeat","worker":"{{Worker}}"}""");
                for (var i = 0; i < 10; i++) // 100 tasks/s
                {
                    var n = Interlocked.Increment(ref published);
                    // The durable intake: what the frozen node had read is claimed by the others, so nothing is lost
                    // (over pub/sub, what was on its way to the frozen node can be: a few of 2,450 in one run).
                    await client.GetDatabase().StreamAddAsync("tasks:" + queues[n % Queues], "payload", $$"""{"task_name":"paused","task_id":"p{{n}}"}""");
                }
                await Task.Delay(100);
            }
        });

        try
        {
            await Task.Delay(3_000);
            Signal("STOP", oldest.Process.Id);
            var pausedAt = Stopwatch.StartNew();
            try
            {
                // The others see it unreachable, down it (keep-majority: two of three) and take its queues.
                await Eventually.Holds(async () =>
                {
                    foreach (var node in survivors)
                        Assert.Equal(2, (await node.GetJsonAsync("/health/ready")).GetProperty("up_members").GetInt32());
                }, TimeSpan.FromSeconds(20));
                output.WriteLine($"the survivors removed the paused node {pausedAt.Elapsed.TotalSeconds:F1} s into the pause");
                await Task.Delay(TimeSpan.FromSeconds(20) - pausedAt.Elapsed);
            }
            finally
            {
                Signal("CONT", oldest.Process.Id);
            }
            // Woken up, it learns it was removed and stops: it does not come back as a second cluster.
            var code = await oldest.WaitForExitAsync(Within);
            output.WriteLine($"the paused node exited with {code}, {pausedAt.Elapsed.TotalSeconds:F1} s after the pause began; " +
                             $"its journal writes refused after waking: {oldest.Output.Split('\n').Count(l => l.Contains("SEQCONFLICT"))} log lines");
            await Task.Delay(3_000);
        }
        finally
        {
            await stop.CancelAsync();
            await producing;
        }

        // Settled: two members that see each other, and every task published is done.
        await Eventually.Holds(async () =>
        {
            foreach (var node in survivors)
            {
                var health = await node.GetJsonAsync("/health/ready");
                Assert.Equal((2, 0), (health.GetProperty("up_members").GetInt32(), health.GetProperty("unreachable_members").GetInt32()));
            }
            var stats = (await b.GetJsonAsync("/api/queues")).GetProperty("queues").EnumerateArray()
                .Where(q => q.GetProperty("queue").GetString()!.StartsWith("pq")).ToList();
            Assert.Equal(published, stats.Sum(q => q.GetProperty("accepted").GetInt64()));
            Assert.Equal(published, stats.Sum(q => q.GetProperty("succeeded").GetInt64()));
        }, Within);
        var firstAttempts = assignments.Where(a => a.Attempt == 1).GroupBy(a => a.TaskId).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        output.WriteLine($"{published} tasks, {assignments.Count} assignments, {assignments.Count(a => a.Attempt > 1)} of them redeliveries");
        Assert.Empty(firstAttempts); // no task allocated twice as its first attempt
        Assert.Equal(published, assignments.Select(a => a.TaskId).Distinct().Count());
    }

    private static void Signal(string signal, int pid) => Process.Start("kill", [$"-{signal}", pid.ToString()])!.WaitForExit();
}
