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
/// Both intakes on three nodes: 20,000 tasks added at about 2,000/s to four queues while a worker finishes them,
/// and one node SIGKILLed in the middle and started again. Streamed: the consumer group gives each entry to one
/// node, and what the dead node had read and not acknowledged is claimed by the others; the streams are empty
/// afterwards. Published: one node takes each message, and what the dead node took with it is taken again by its
/// successors from the messages they kept. Either way every task succeeds once in the statistics and none is
/// missing.
/// </summary>
public class ThreeNodeStreamTests(ITestOutputHelper output)
{
    private const string Worker = "stream-cluster-w";
    private const int Total = 20_000;
    private static readonly string[] Queues = ["c0", "c1", "c2", "c3"];
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Tasks_survive_a_node_killed_mid_stream_each_succeeds_once_and_the_streams_are_emptied(bool streamed)
    {
        await using var redis = await RedisServerProcess.StartAsync();
        var ports = Enumerable.Range(0, 3).Select(_ => FreePort.Find()).ToArray();
        HostNodeProcess Launch(int i, int? metricsPort = null) => HostNodeProcess.Launch(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["CLUSTER_PORT"] = ports[i].ToString(),
            // The restarted node seeds from a survivor, so it does not found a cluster of its own.
            ["CLUSTER_SEEDS"] = i == 0 ? $"127.0.0.1:{ports[0]}" : $"127.0.0.1:{ports[0]},127.0.0.1:{ports[2]}",
            ["ALLOCATOR_ACK_TIMEOUT"] = "10",
            ["ALLOCATOR_WORKER_TIMEOUT"] = "30",
        }, metricsPort);
        await using var a = Launch(0);
        await a.WaitUntilReadyAsync(Within);
        var b = Launch(1);
        await using var c = Launch(2);
        try
        {
            await b.WaitUntilReadyAsync(Within);
            await c.WaitUntilReadyAsync(Within);
            await Eventually.Holds(async () =>
            {
                foreach (var node in new[] { a, b, c })
                    Assert.Equal(3, (await node.GetJsonAsync("/health/ready")).GetProperty("up_members").GetInt32());
            }, Within);

            using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
            var publisher = client.GetSubscriber();
            var db = client.GetDatabase();
            var assignments = await SimulatedWorker.StartAsync(publisher, Worker);
            var register = $$"""{"type":"register","worker":"{{Worker}}","queues":{{JsonSerializer.Serialize(Queues)}},"pool_size":500}""";
            await Eventually.Holds(async () =>
            {
                await publisher.PublishAsync(RedisChannel.Literal("workers:control"), register);
                Assert.Contains(Worker, await a.Http.GetStringAsync("/api/workers"));
            }, Within);
            using var stopHeartbeats = new CancellationTokenSource();
            var heartbeats = Task.Run(async () =>
            {
                while (!stopHeartbeats.IsCancellationRequested)
                {
                    await publisher.PublishAsync(RedisChannel.Literal("workers:control"), $$"""{"type":"heartbeat","worker":"{{Worker}}"}""");
                    await Task.Delay(1_000);
                }
            });

            // About 2,000 tasks/s; node b dies halfway and comes back on its ports 2 s later.
            var clock = Stopwatch.StartNew();
            var killed = false;
            for (var added = 0; added < Total;)
            {
                var batch = db.CreateBatch();
                for (var i = 0; i < 100; i++, added++)
                {
                    var (queue, task) = ("tasks:" + Queues[added % Queues.Length], $$"""{"task_name":"clustered","task_id":"t{{added}}"}""");
                    _ = streamed ? (Task)batch.StreamAddAsync(queue, "payload", task) : batch.PublishAsync(RedisChannel.Literal(queue), task);
                }
                batch.Execute();
                if (!killed && added >= Total / 2)
                {
                    b.Process.Kill(entireProcessTree: true);
                    killed = true;
                    output.WriteLine($"node b killed after {clock.Elapsed.TotalSeconds:F1} s, {added} tasks added");
                    var metricsPort = b.MetricsPort;
                    await b.WaitForExitAsync(TimeSpan.FromSeconds(10));
                    await b.DisposeAsync();
                    await Task.Delay(2_000);
                    b = Launch(1, metricsPort);
                }
                var due = TimeSpan.FromMilliseconds(added / 2.0);
                if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
            }
            await db.PingAsync();
            await b.WaitUntilReadyAsync(Within);

            await Eventually.Holds(async () =>
            {
                var stats = (await a.GetJsonAsync("/api/queues")).GetProperty("queues").EnumerateArray()
                    .Where(q => Queues.Contains(q.GetProperty("queue").GetString())).ToList();
                Assert.Equal(((long)Total, (long)Total), (stats.Sum(q => q.GetProperty("accepted").GetInt64()),
                    stats.Sum(q => q.GetProperty("succeeded").GetInt64())));
                foreach (var queue in Queues) Assert.Equal(0, await db.StreamLengthAsync("tasks:" + queue));
            }, Within);
            output.WriteLine($"all done {clock.Elapsed.TotalSeconds:F1} s after the first XADD; {assignments.Count} assignments, " +
                             $"{assignments.Count(x => x.Attempt > 1)} redeliveries");
            await stopHeartbeats.CancelAsync();
            await heartbeats;

            Assert.Equal(Total, assignments.Select(x => x.TaskId).Distinct().Count());
            Assert.Equal(0, assignments.Where(x => x.Attempt == 1).GroupBy(x => x.TaskId).Count(g => g.Count() > 1));
            if (streamed)
                foreach (var queue in Queues)
                    Assert.Equal(0, (await db.StreamPendingAsync("tasks:" + queue, "celery-actors")).PendingMessageCount);
        }
        catch (Exception) when (Report(("a", a), ("b", b), ("c", c)))
        {
            // Never entered: Report only writes each node's state and returns false, so the failure goes on as it was.
        }
        finally
        {
            await b.DisposeAsync();
        }
    }

    private bool Report(params (string Name, HostNodeProcess Node)[] nodes)
    {
        foreach (var (name, node) in nodes)
        {
            try { output.WriteLine($"node {name}: {node.Describe()}"); }
            catch (InvalidOperationException e) { output.WriteLine($"node {name}: {e.Message}"); } // disposed already
        }
        return false;
    }
}
