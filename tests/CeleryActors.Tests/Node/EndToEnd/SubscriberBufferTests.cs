using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>What a real node does when pub/sub delivers faster than it handles, or more than Redis lets a
/// subscriber fall behind by: it holds a bounded number of bytes, and whatever it cannot take is counted.</summary>
public class SubscriberBufferTests
{
    private static string Execution(int i) =>
        $$"""{"type":"task_execution","task_name":"buf.t{{i % 7}}","queue":"buf","duration":0.01,"status":"success"}""";

    [Fact]
    public async Task A_burst_past_the_buffer_is_dropped_and_counted_so_every_message_is_handled_or_counted()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["MAX_PAYLOAD_BYTES"] = "1024",
            ["MAX_BUFFERED_BYTES"] = "4096", // about fifteen messages
        });
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var subscriber = publisher.GetSubscriber();
        var channel = RedisChannel.Literal("metrics");
        await Support.Eventually.Holds(async () => Assert.True(await subscriber.PublishAsync(channel, Execution(0)) > 0));

        const int burst = 50_000;
        for (var i = 1; i <= burst; i++) subscriber.Publish(channel, Execution(i), CommandFlags.FireAndForget);
        await subscriber.PingAsync();

        await Support.Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            var handled = m.Sum("celery_redis_pubsub_messages_total", ("channel", "metrics"));
            var dropped = m.Value("celery_redis_pubsub_dropped_total", ("subscription", "metrics"));
            Assert.True(dropped > 0, "a burst of 50,000 against a buffer of 4 KiB drops some");
            Assert.Equal(burst + 1, handled + dropped); // each one handled or counted
            Assert.Equal(handled, m.Sum("celery_task_succeeded_total"));
        }, TimeSpan.FromSeconds(30));
        Assert.Contains("MAX_BUFFERED_BYTES", node.Output);
    }

    [Fact]
    public async Task A_publish_of_40_MB_gets_the_subscriber_cut_off_and_the_node_resubscribes_counts_it_and_goes_on()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string> { ["REDIS_URL"] = redis.Url.ToString() });
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",syncTimeout=30000,asyncTimeout=30000");
        var subscriber = publisher.GetSubscriber();
        var channel = RedisChannel.Literal("metrics");
        await Support.Eventually.Holds(async () => Assert.True(await subscriber.PublishAsync(channel, Execution(0)) > 0));
        await Support.Eventually.Holds(async () =>
            Assert.Equal(1, (await node.ScrapeAsync()).Sum("celery_task_succeeded_total")));

        // Over Redis's default hard limit for a pub/sub client's output buffer (32 MB): Redis closes the
        // subscription connection instead of sending it.
        await subscriber.PublishAsync(channel, new byte[40 * 1024 * 1024]);
        await Support.Eventually.Holds(async () =>
            Assert.True((await node.ScrapeAsync()).Value("celery_redis_resubscriptions_total") >= 1), TimeSpan.FromSeconds(30));

        // Subscribed again: messages after it are counted again (published until one is heard, as a publish made
        // before the resubscription reaches nobody).
        await Support.Eventually.Holds(async () =>
        {
            await subscriber.PublishAsync(channel, Execution(1));
            Assert.True((await node.ScrapeAsync()).Sum("celery_task_succeeded_total") >= 2);
        }, TimeSpan.FromSeconds(30));
        Assert.Contains("connection to Redis lost", node.Output);
        Assert.Equal(1, (await node.ScrapeAsync()).Value("celery_redis_connected"));
    }
}
