using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Allocator.EndToEnd;

/// <summary>What the allocator's end-to-end tests share: a host node process on the test class's redis-server, and
/// the wire seen from a producer and a worker. The classes run in one collection, one node at a time.</summary>
public abstract class AllocatorEndToEndTestBase(RedisFixture redis)
{
    /// <summary>The collection of every allocator end-to-end class.</summary>
    public const string Collection = "allocator end to end";

    /// <summary>The test class's private redis-server.</summary>
    protected RedisFixture Redis => redis;

    private protected static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    private protected Task<HostNodeProcess> StartNode(string prefix, int maxPayload = 1024 * 1024, string ack = "3", string worker = "10") =>
        HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = Redis.Server.Url.ToString(),
            ["ALLOCATOR_CHANNEL_PREFIX"] = prefix,
            ["ALLOCATOR_ACK_TIMEOUT"] = ack,
            ["ALLOCATOR_WORKER_TIMEOUT"] = worker,
            ["MAX_PAYLOAD_BYTES"] = maxPayload.ToString(),
        });

    private protected static string NewPrefix() => "e" + Guid.NewGuid().ToString("N")[..8] + ":";

    private protected long Publish(string channel, string json) =>
        Redis.Connection.GetSubscriber().Publish(RedisChannel.Literal(channel), json);

    /// <summary>Subscribes like a worker would, collecting the assignment JSON it receives.</summary>
    private protected ConcurrentQueue<JsonElement> Listen(string channel)
    {
        var received = new ConcurrentQueue<JsonElement>();
        Redis.Connection.GetSubscriber().Subscribe(RedisChannel.Literal(channel))
            .OnMessage(m => received.Enqueue(JsonDocument.Parse((string)m.Message!).RootElement.Clone()));
        return received;
    }

    private protected static async Task<JsonElement> GetJson(HostNodeProcess node, string path)
    {
        using var response = await node.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>Waits until Redis counts the node's three allocator subscriptions (pub/sub drops what nobody
    /// hears): <c>workers:control</c>, <c>task-status</c> and the <c>tasks:*</c> pattern. One node runs at a time
    /// in this class, so any pattern subscription is this node's.</summary>
    private protected async Task WaitForAllocatorSubscriptions(string prefix)
    {
        var server = Redis.Connection.GetServers()[0];
        await Eventually.Holds(async () =>
        {
            Assert.True(await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal(prefix + "workers:control")) >= 1);
            Assert.True(await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal(prefix + "task-status")) >= 1);
            Assert.True(await server.SubscriptionPatternCountAsync() >= 1);
        }, Within);
    }

    private protected static double Rejected(MetricFamilies m, string kind, string reason) =>
        m.Value("celery_messages_rejected_total", ("channel_kind", kind), ("reason", reason));
}
