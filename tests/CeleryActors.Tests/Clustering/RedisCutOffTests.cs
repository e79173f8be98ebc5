using System.Collections.Concurrent;
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
/// Two nodes on one Redis; node b reaches it through a proxy that the test cuts. Past
/// <c>CLUSTER_LEAVE_WITHOUT_REDIS</c>, b leaves the cluster, its queues move to a, which allocates their tasks and
/// takes b's share of the pub/sub messages; when Redis is reachable from b again, b starts a new actor system and
/// joins the cluster again.
/// </summary>
[Collection(ClientNodesCollection.Name)]
public class RedisCutOffTests(RedisFixture redis, ITestOutputHelper output) : IClassFixture<RedisFixture>
{
    private const int Queues = 8, PerQueue = 5;
    private const string Worker = "cutoff-worker";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private static async Task<JsonElement> Ready(HostNodeProcess node)
    {
        using var response = await node.Http.GetAsync("/health/ready");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return body;
    }

    [Fact]
    public async Task A_node_cut_off_from_redis_leaves_its_queues_go_on_elsewhere_and_it_joins_again_when_redis_is_back()
    {
        using var proxy = new TcpProxy(redis.Server.Port);
        var clusterPort = FreePort.Find();
        await using var a = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["CLUSTER_PORT"] = clusterPort.ToString(),
        });
        await using var b = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = RedisUrl.Loopback(proxy.Port).ToString(),
            ["CLUSTER_SEEDS"] = $"127.0.0.1:{clusterPort}",
            ["CLUSTER_LEAVE_WITHOUT_REDIS"] = "3",
        });
        try
        {
            await Eventually.Holds(async () => Assert.Equal(2, (await Ready(a)).GetProperty("up_members").GetInt32()), Within);
            // Tasks on queues spread over both nodes, waiting for a worker.
            var publisher = redis.Connection.GetSubscriber();
            var server = redis.Connection.GetServers()[0];
            await Eventually.Holds(async () =>
                Assert.Equal(2, await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal("task-status"))), Within);
            for (var i = 0; i < Queues * PerQueue; i++)
                await publisher.PublishAsync(RedisChannel.Literal($"tasks:cut{i % Queues}"),
                    $$"""{"task_name":"job","task_id":"t{{i}}"}""");
            await Eventually.Holds(async () =>
            {
                var queues = (await a.GetJsonAsync("/api/queues")).GetProperty("queues").EnumerateArray().ToList();
                Assert.Equal(Queues * PerQueue, queues.Sum(q => q.GetProperty("accepted").GetInt64()));
            }, Within);

            proxy.Cut();
            // b leaves in good order: a sees one member and nobody unreachable, not a downed node.
            await Eventually.Holds(async () =>
            {
                var health = await Ready(a);
                Assert.Equal((1, 0), (health.GetProperty("up_members").GetInt32(), health.GetProperty("unreachable_members").GetInt32()));
            }, Within);
            Assert.Contains("leaving the cluster", b.Output);

            // Every queue now lives on a: a worker registered there gets every task, each once.
            var assignments = new ConcurrentQueue<string>();
            var status = RedisChannel.Literal("task-status");
            (await redis.Connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal("worker:" + Worker))).OnMessage(m =>
            {
                using var doc = JsonDocument.Parse((string)m.Message!);
                var id = doc.RootElement.GetProperty("task_id").GetString()!;
                assignments.Enqueue(id);
                publisher.Publish(status, $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"received"}""", CommandFlags.FireAndForget);
                publisher.Publish(status, $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"succeeded","runtime":0.01}""", CommandFlags.FireAndForget);
            });
            var queueList = string.Join(",", Enumerable.Range(0, Queues).Select(q => $"\"cut{q}\""));
            await publisher.PublishAsync(RedisChannel.Literal("workers:control"),
                $$"""{"type":"register","worker":"{{Worker}}","queues":[{{queueList}}],"pool_size":100}""");
            await Eventually.Holds(async () =>
            {
                var queues = (await a.GetJsonAsync("/api/queues")).GetProperty("queues").EnumerateArray().ToList();
                Assert.Equal(Queues * PerQueue, queues.Sum(q => q.GetProperty("succeeded").GetInt64()));
            }, Within);
            Assert.Equal(Queues * PerQueue, assignments.Distinct().Count());
            Assert.Equal(Queues * PerQueue, assignments.Count);

            // Redis is back for b: it starts again and joins a.
            proxy.Restore();
            await Eventually.Holds(async () =>
            {
                Assert.Equal(2, (await Ready(a)).GetProperty("up_members").GetInt32());
                Assert.Equal(2, (await Ready(b)).GetProperty("up_members").GetInt32());
            }, Within);
            Assert.Contains("joining the cluster", b.Output);
        }
        catch
        {
            output.WriteLine($"node a: {a.Describe()}\n\nnode b: {b.Describe()}");
            throw;
        }
    }
}
