using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CeleryActors.Redis;
using CeleryActors.Tests.Client;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Clustering;

/// <summary>
/// Three host node processes on one Redis form one cluster; every node subscribes to every channel. Tasks are
/// published with no worker online, the oldest node (the seed, home of the shard coordinator) is killed with
/// SIGKILL, and a worker registers through the actor client whose first contact is the dead node: every task is
/// allocated once with attempt 1 and completes, the statistics add up through the survivors, the nodes' counters
/// add up to what was published, and the killed node, restarted, joins again.
/// </summary>
[Collection(ClientNodesCollection.Name)]
public class ThreeNodeClusterTests(RedisFixture redis, ITestOutputHelper output) : IClassFixture<RedisFixture>
{
    private const int Queues = 10, PerQueue = 30;
    private const string Worker = "cluster-worker";
    // Generous for a loaded two-core CI machine; the failover time itself is measured by the cluster-failover
    // load run (README), not here.
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private sealed record Node(HostNodeProcess Process, int ClusterPort)
    {
        public string Contact => $"127.0.0.1:{ClusterPort}";
    }

    private async Task<Node> StartNode(int clusterPort, int? metricsPort, params Node[] seeds)
    {
        var environment = new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["CLUSTER_PORT"] = clusterPort.ToString(),
            ["ALLOCATOR_ACK_TIMEOUT"] = "30",
            ["ALLOCATOR_WORKER_TIMEOUT"] = "15",
        };
        // HOST:PORT seeds, as users write them.
        if (seeds.Length > 0) environment["CLUSTER_SEEDS"] = string.Join(",", seeds.Select(s => s.Contact));
        var process = HostNodeProcess.Launch(environment, metricsPort);
        try
        {
            await process.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
        return new Node(process, clusterPort);
    }

    private static async Task<JsonElement> Json(Node node, string path)
    {
        using var response = await node.Process.Http.GetAsync(path);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return body;
    }

    private static async Task<double> Sum(IEnumerable<Node> nodes, string sample, params (string, string)[] labels)
    {
        var total = 0.0;
        foreach (var node in nodes) total += (await node.Process.ScrapeAsync()).Sum(sample, labels);
        return total;
    }

    private static string Queue(int i) => $"cq{i}";

    [Fact]
    public async Task A_node_killed_with_sigkill_loses_no_task_and_allocates_none_twice_and_rejoins_when_restarted()
    {
        var a = await StartNode(FreePort.Find(), null);
        await using var nodeA = a.Process;
        var b = await StartNode(FreePort.Find(), null, a);
        await using var nodeB = b.Process;
        var c = await StartNode(FreePort.Find(), null, a);
        await using var nodeC = c.Process;
        Node[] all = [a, b, c], survivors = [b, c];
        await Eventually.Holds(async () =>
        {
            foreach (var node in all)
            {
                var health = await Json(node, "/health/ready");
                Assert.True(health.GetProperty("up_members").GetInt32() == 3, $"{node.Contact}: {health}\n{node.Process.Output[^Math.Min(4000, node.Process.Output.Length)..]}");
            }
        }, Within);
        // Pub/sub drops what nobody hears: wait until all three nodes listen to the task and status channels.
        var server = redis.Connection.GetServers()[0];
        await Eventually.Holds(async () =>
        {
            // NUMPAT counts distinct patterns, not subscribers: the allocator subscribes to its pattern along with
            // these two channels, which are counted per subscriber.
            Assert.Equal(1, await server.SubscriptionPatternCountAsync());
            Assert.Equal(3, await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal("workers:control")));
            Assert.Equal(3, await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal("task-status")));
            Assert.Equal(3, await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal("metrics")));
        }, Within);

        // Every node hears each of these; the cluster must take each once. A third carry no task_id.
        var publisher = redis.Connection.GetSubscriber();
        for (var i = 0; i < Queues * PerQueue; i++)
        {
            var (queue, n) = (Queue(i % Queues), i / Queues);
            var json = n % 3 == 0
                ? $$$"""{"task_name":"job","task_data":{"n":{{{n}}}}}"""
                : $$$"""{"task_name":"job","task_id":"{{{queue}}}-{{{n}}}","task_data":{"n":{{{n}}}}}""";
            await publisher.PublishAsync(RedisChannel.Literal("tasks:" + queue), json);
        }
        // A producer repeats five publications (with their ids): five duplicates in the whole cluster.
        for (var n = 1; n <= 5; n++)
            await publisher.PublishAsync(RedisChannel.Literal("tasks:cq0"), $$"""{"task_name":"job","task_id":"cq0-{{n * 3 - 1}}"}""");
        // Three bad messages and thirty metrics messages, each to be counted once over the three nodes.
        for (var i = 0; i < 3; i++) await publisher.PublishAsync(RedisChannel.Literal("tasks:cq1"), "{\"priority\":1}");
        for (var i = 0; i < 30; i++)
            await publisher.PublishAsync(RedisChannel.Literal("metrics"),
                $$"""{"type":"task_execution","task_name":"cluster-metric","queue":"m","duration":0.{{i:D2}},"status":"success"}""");

        await Eventually.Holds(async () =>
        {
            var queues = (await Json(b, "/api/queues")).GetProperty("queues").EnumerateArray().ToList();
            Assert.Equal(Queues, queues.Count(q => q.GetProperty("queue").GetString()!.StartsWith("cq")));
            Assert.Equal(Queues * PerQueue, queues.Sum(q => q.GetProperty("accepted").GetInt64()));
            Assert.Equal(0, queues.Sum(q => q.GetProperty("unwritten").GetInt32()));
            Assert.Equal(5, queues.Sum(q => q.GetProperty("duplicates").GetInt64()));
            Assert.Equal(Queues * PerQueue + 5, await Sum(all, "celery_redis_pubsub_messages_total", ("message_type", "task")));
            Assert.Equal(5, await Sum(all, "celery_task_duplicates_total"));
            Assert.Equal(3, await Sum(all, "celery_messages_rejected_total", ("channel_kind", "tasks")));
            Assert.Equal(30, await Sum(all, "celery_task_succeeded_total", ("task_name", "cluster-metric")));
        }, Within);

        // SIGKILL: no goodbye, no hand-over. The survivors must down it and take over its entities.
        nodeA.Process.Kill();
        var killedAt = Stopwatch.StartNew();
        await nodeA.WaitForExitAsync(TimeSpan.FromSeconds(10));

        // The worker answers its assignments over Redis and heartbeats there; it registers through the client,
        // whose first contact is the dead node.
        var assignments = new ConcurrentQueue<(string TaskId, int Attempt, string Queue)>();
        var status = RedisChannel.Literal("task-status");
        (await redis.Connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal("worker:" + Worker))).OnMessage(m =>
        {
            using var doc = JsonDocument.Parse((string)m.Message!);
            var (id, attempt) = (doc.RootElement.GetProperty("task_id").GetString()!, doc.RootElement.GetProperty("attempt").GetInt32());
            assignments.Enqueue((id, attempt, doc.RootElement.GetProperty("queue").GetString()!));
            publisher.Publish(status, $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"received"}""", CommandFlags.FireAndForget);
            publisher.Publish(status, $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"succeeded","runtime":0.01}""", CommandFlags.FireAndForget);
        });
        using var stopHeartbeats = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!stopHeartbeats.IsCancellationRequested)
            {
                await publisher.PublishAsync(RedisChannel.Literal("workers:control"), $$"""{"type":"heartbeat","worker":"{{Worker}}"}""");
                await Task.Delay(1_000);
            }
        });
        await using var client = ClientNodes.Client(TimeSpan.FromSeconds(15), a.Contact, b.Contact, c.Contact);
        await Eventually.Holds(async () =>
            Assert.True((await client.RegisterWorkerAsync(Worker, Enumerable.Range(0, Queues).Select(Queue).ToList(),
                poolSize: 50)).Online), Within);
        output.WriteLine($"worker registered {killedAt.Elapsed.TotalSeconds:F1} s after the kill");

        await Eventually.Holds(async () =>
        {
            var stats = (await client.GetQueuesAsync()).Where(q => q.Queue.StartsWith("cq")).ToList();
            Assert.Equal((long)Queues * PerQueue, stats.Sum(q => q.Succeeded));
            Assert.Equal(0, stats.Sum(q => q.Pending + q.InFlight));
        }, Within);
        output.WriteLine($"all {Queues * PerQueue} tasks done {killedAt.Elapsed.TotalSeconds:F1} s after the kill");
        await stopHeartbeats.CancelAsync();
        await heartbeats;

        // Each task was allocated exactly once, on its first attempt, and nothing was requeued or lost.
        Assert.Equal(Queues * PerQueue, assignments.Count);
        Assert.Equal(Queues * PerQueue, assignments.Select(x => x.TaskId).Distinct().Count());
        Assert.All(assignments, x => Assert.Equal(1, x.Attempt));
        Assert.Equal(Enumerable.Repeat(PerQueue, Queues), assignments.GroupBy(x => x.Queue).OrderBy(g => g.Key).Select(g => g.Count()));
        foreach (var survivor in survivors)
        {
            var queues = (await Json(survivor, "/api/queues")).GetProperty("queues").EnumerateArray().Where(q => q.GetProperty("queue").GetString()!.StartsWith("cq")).ToList();
            Assert.Equal((Queues * PerQueue, Queues * PerQueue, Queues * PerQueue, 0L, 0L), (
                queues.Sum(q => q.GetProperty("accepted").GetInt64()), queues.Sum(q => q.GetProperty("allocated").GetInt64()),
                queues.Sum(q => q.GetProperty("succeeded").GetInt64()), queues.Sum(q => q.GetProperty("failed").GetInt64()),
                queues.Sum(q => q.GetProperty("requeued").GetInt64())));
        }
        // The survivors counted every status report once, between them.
        Assert.Equal(Queues * PerQueue, await Sum(survivors, "celery_redis_pubsub_messages_total", ("message_type", "succeeded")));
        Assert.Equal(Queues * PerQueue, await Sum(survivors, "celery_task_allocation_total"));

        // The killed node comes back on its old ports, seeded by the survivors, and is a member again.
        var again = await StartNode(a.ClusterPort, nodeA.MetricsPort, b, c);
        await using var nodeAgain = again.Process;
        await Eventually.Holds(async () =>
        {
            foreach (var node in new[] { again, b, c })
            {
                var health = await Json(node, "/health/ready");
                Assert.Equal((3, 0), (health.GetProperty("up_members").GetInt32(), health.GetProperty("unreachable_members").GetInt32()));
            }
        }, Within);
        var through = await client.GetQueueAsync("cq3");
        Assert.Equal(PerQueue, through!.Succeeded);
    }
}
