using System.Globalization;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>The implausible-input corpus of the metrics channel and of Celery's events, against a real node that
/// monitors a Celery broker on the same Redis (the allocator's wires have theirs in
/// <see cref="Allocator.EndToEnd.AllocatorInputEndToEndTests"/>): each bad message is rejected and counted, each good one still counts.</summary>
public class ImplausibleInputNodeTests
{
    [Fact]
    public async Task Absurd_numbers_and_names_on_the_metrics_channel_and_in_celery_events_are_rejected_and_counted()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["CELERY_BROKER_URL"] = redis.Url.ToString(),
            ["MAX_PAYLOAD_BYTES"] = (4 * 1024 * 1024).ToString(), // a name of a mebibyte reaches the name check
        });
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var publisher = client.GetSubscriber();
        var metrics = RedisChannel.Literal("metrics");
        var heartbeats = RedisChannel.Literal("/0.celeryev/worker.heartbeat");
        var tasks = RedisChannel.Literal("/0.celeryev/task.received");
        // Ready is not subscribed yet: wait until both subscriptions hear.
        await Eventually.Holds(async () =>
        {
            Assert.True(await publisher.PublishAsync(metrics, """{"type":"queue_length","queue":"warmup","length":1}""") > 0);
            Assert.True(await publisher.PublishAsync(heartbeats, CeleryEnvelope.Of(CeleryEnvelope.Heartbeat("real@h", 5), "worker.heartbeat")) > 0);
        }, TimeSpan.FromSeconds(60));

        var dayAhead = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 2 * 86_400).ToString(CultureInfo.InvariantCulture);
        string[] badMetrics =
        [
            """{"type":"task_execution","task_name":"t","queue":"q","duration":1e308,"status":"success"}""",
            """{"type":"task_execution","task_name":"t","queue":"q","duration":2592001,"status":"success"}""",
            """{"type":"pubsub_message","channel":"c","message_type":"m","latency":1e308}""",
            $$"""{"type":"queue_length","queue":"q","length":1,"published_at":{{dayAhead}}}""",
        ];
        foreach (var bad in badMetrics) await publisher.PublishAsync(metrics, bad);
        await publisher.PublishAsync(metrics, """{"type":"queue_length","queue":"integral","length":42.0}""");

        var absurd = CeleryEnvelope.Heartbeat("absurd@h", 1);
        absurd["processed"] = 1e19;
        await publisher.PublishAsync(heartbeats, CeleryEnvelope.Of(absurd, "worker.heartbeat"));
        await publisher.PublishAsync(tasks, CeleryEnvelope.Of(
            CeleryEnvelope.Task("task-received", "u1", new string('x', 1 << 20), name: "t"), "task.received"));

        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(badMetrics.Length, m.Value("celery_messages_rejected_total", ("channel_kind", "metrics"), ("reason", "out_of_range")));
            Assert.Equal(42, m.Value("celery_queue_length", ("queue", "integral")));
            Assert.Equal(2, m.Value("celery_messages_rejected_total", ("channel_kind", "celery_events"), ("reason", "out_of_range")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", "real@h")));
        }, TimeSpan.FromSeconds(30));
        var after = await node.ScrapeAsync();
        Assert.Equal(0, after.Sum("celery_events_lost_total")); // no 9.2e18 from a saturated cast
        Assert.Equal(0, after.Sum("celery_task_duration_seconds_sum"));
        Assert.DoesNotContain("absurd@h", await node.Http.GetStringAsync("/metrics"));
        Assert.DoesNotContain(new string('x', 1000), node.Output); // the mebibyte name reaches no log line
    }
}
