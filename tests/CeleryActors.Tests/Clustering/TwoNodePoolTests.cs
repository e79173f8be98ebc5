using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using CeleryActors.Redis;
using CeleryActors.Tests.Client;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Clustering;

/// <summary>
/// Two host node processes in one cluster: a worker's eight queues are placed on both nodes (each node says
/// which entities it hosts), and its one pool still bounds what it holds over all of them, granted by its entity
/// on one node to queue entities on both.
/// </summary>
[Collection(ClientNodesCollection.Name)]
public class TwoNodePoolTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private const string Worker = "pool-worker";
    private const int Pool = 3, Queues = 8, PerQueue = 30;
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private async Task<(HostNodeProcess Node, int Port)> StartNode(string prefix, int? seedPort = null)
    {
        var port = FreePort.Find();
        var environment = new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["CLUSTER_PORT"] = port.ToString(),
            ["ALLOCATOR_CHANNEL_PREFIX"] = prefix,
        };
        if (seedPort is { } seed) environment["CLUSTER_SEEDS"] = $"127.0.0.1:{seed}";
        return (await HostNodeProcess.StartAsync(environment), port);
    }

    private static async Task<JsonElement> Json(HostNodeProcess node, string path)
    {
        using var response = await node.Http.GetAsync(path);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return body;
    }

    private static List<string> Names(JsonElement hosted, string kind) =>
        hosted.GetProperty(kind).EnumerateArray().Select(e => e.GetString()!).ToList();

    [Fact]
    public async Task A_pool_holds_over_queues_whose_entities_live_on_both_nodes()
    {
        var p = "two" + Guid.NewGuid().ToString("N")[..6] + ":";
        var (a, portA) = await StartNode(p);
        await using var nodeA = a;
        var (b, _) = await StartNode(p, portA);
        await using var nodeB = b;
        HostNodeProcess[] nodes = [a, b];
        var server = redis.Connection.GetServers()[0];
        await Eventually.Holds(async () =>
        {
            foreach (var node in nodes) Assert.Equal(2, (await Json(node, "/health/ready")).GetProperty("up_members").GetInt32());
            Assert.Equal(2, await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal(p + "workers:control")));
            Assert.Equal(2, await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal(p + "task-status")));
        }, Within);

        var publisher = redis.Connection.GetSubscriber();
        void Publish(string channel, string json) => publisher.Publish(RedisChannel.Literal(p + channel), json, CommandFlags.FireAndForget);
        var queues = Enumerable.Range(0, Queues).Select(i => $"pq{i}").ToList();

        // The simulated worker: acknowledges at once, finishes each task a moment later, and checks its pool on
        // every assignment (what it reported finished no longer counts, though the node may not know yet).
        var held = new Dictionary<(string Queue, string Id), long>();
        var violations = new ConcurrentQueue<string>();
        var fromQueue = new ConcurrentDictionary<string, int>();
        var maxHeld = 0;
        var inbox = await redis.Connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal(p + "worker:" + Worker));
        inbox.OnMessage(m =>
        {
            using var doc = JsonDocument.Parse((string)m.Message!);
            var (queue, id) = (doc.RootElement.GetProperty("queue").GetString()!, doc.RootElement.GetProperty("task_id").GetString()!);
            lock (held)
            {
                held[(queue, id)] = Environment.TickCount64;
                maxHeld = Math.Max(maxHeld, held.Count);
                if (held.Count > Pool) violations.Enqueue($"{held.Count} held after {queue}/{id}: {string.Join(", ", held.Keys)}");
            }
            fromQueue.AddOrUpdate(queue, 1, (_, n) => n + 1);
            Publish("task-status", $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"received","queue":"{{queue}}"}""");
        });
        using var stop = new CancellationTokenSource();
        var worker = Task.Run(async () =>
        {
            var lastBeat = 0L;
            while (!stop.IsCancellationRequested)
            {
                List<(string Queue, string Id)> done;
                lock (held)
                {
                    var now = Environment.TickCount64;
                    done = held.Where(h => now - h.Value >= 20).Select(h => h.Key).ToList();
                    foreach (var task in done) held.Remove(task);
                    if (now - lastBeat > 1_000)
                    {
                        lastBeat = now;
                        var running = JsonSerializer.Serialize(held.Keys.Select(k => k.Id));
                        Publish("workers:control", $$"""{"type":"heartbeat","worker":"{{Worker}}","running":{{running}}}""");
                    }
                }
                foreach (var (queue, id) in done)
                    Publish("task-status", $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"succeeded","runtime":0.02,"queue":"{{queue}}"}""");
                await Task.Delay(5);
            }
        });

        try
        {
            Publish("workers:control", $$"""
                {"type":"register","worker":"{{Worker}}","queues":{{JsonSerializer.Serialize(queues)}},"pool_size":{{Pool}},"instance":"one"}
                """);
            // The registration creates the queue entities; the coordinator spreads their shards over both nodes
            // (at once when both regions have registered with it, else by rebalancing within some seconds).
            var hosts = new Dictionary<string, HostNodeProcess>();
            await Eventually.Holds(async () =>
            {
                hosts.Clear();
                foreach (var node in nodes)
                    foreach (var queue in Names(await Json(node, "/api/entities"), "queues").Where(queues.Contains))
                        hosts[queue] = node;
                Assert.Equal(queues.Order(), hosts.Keys.Order());
                Assert.All(nodes, node => Assert.Contains(node, hosts.Values));
            }, Within);
            var workerHosts = new List<HostNodeProcess>();
            foreach (var node in nodes)
                if (Names(await Json(node, "/api/entities"), "workers").Contains(Worker)) workerHosts.Add(node);
            Assert.Single(workerHosts);

            for (var i = 0; i < Queues * PerQueue; i++)
                Publish("tasks:" + queues[i % Queues], $$"""{"task_name":"job","task_id":"t{{i}}","priority":{{i % 10}}}""");

            await Eventually.Holds(async () =>
            {
                foreach (var queue in queues)
                {
                    var q = await Json(a, "/api/queues/" + queue);
                    Assert.Equal((PerQueue, 0L, 0, 0), (q.GetProperty("succeeded").GetInt64(), q.GetProperty("failed").GetInt64(),
                        q.GetProperty("pending").GetInt32(), q.GetProperty("in_flight").GetInt32()));
                }
            }, Within);
        }
        finally
        {
            await stop.CancelAsync();
            await worker;
            await inbox.UnsubscribeAsync();
        }

        Assert.Empty(violations);
        Assert.Equal(Pool, maxHeld); // the pool was used in full, and never more
        // Every queue, on either node, had its share of the pool: one authority granted it to both nodes.
        Assert.All(queues, q => Assert.Equal(PerQueue, fromQueue.GetValueOrDefault(q)));
        var w = Assert.Single((await Json(b, "/api/workers")).GetProperty("workers").EnumerateArray());
        Assert.Equal((Pool, 0, "one"), (w.GetProperty("pool_size").GetInt32(), w.GetProperty("unfinished_tasks").GetInt32(),
            w.GetProperty("instance").GetString()));
    }
}
