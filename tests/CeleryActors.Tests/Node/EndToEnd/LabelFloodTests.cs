using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>A flood of random names on the metrics channel against a real node with small caps: every family
/// stays at its series cap, nothing counted is lost, and once the flood has been idle for the label TTL the junk is
/// gone and a real name shows up under its own name again.</summary>
public class LabelFloodTests
{
    private const int MaxSeries = 300;

    [Fact]
    public async Task A_flood_of_names_stays_at_the_series_cap_and_passes_and_real_names_come_back()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["METRICS_MAX_LABEL_VALUES"] = "1000",
            ["METRICS_MAX_SERIES"] = MaxSeries.ToString(),
            ["METRICS_LABEL_TTL"] = "3",
        });
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var channel = RedisChannel.Literal("metrics");
        var subscriber = publisher.GetSubscriber();
        await Support.Eventually.Holds(async () => Assert.True(await subscriber.PublishAsync(channel,
            """{"type":"task_execution","task_name":"real.before","queue":"flood","duration":0.1,"status":"success"}""") > 0));

        // 2,000 names x 10 queues x 10 exceptions, one failure each of 4,000 random picks: far more label sets
        // than the cap, every label under its own cap of 1,000 but task_name.
        var random = new Random(7);
        const int flood = 4_000;
        for (var i = 0; i < flood; i++)
            subscriber.Publish(channel, $$"""{"type":"task_execution","task_name":"junk-{{random.Next(2_000)}}","queue":"fq{{random.Next(10)}}","duration":0.1,"status":"failure","exception":"E{{random.Next(10)}}"}""",
                CommandFlags.FireAndForget);
        await subscriber.PingAsync();

        await Support.Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(flood, m.Sum("celery_task_failed_total")); // nothing counted is lost
            foreach (var family in new[] { "celery_task_started_total", "celery_task_failed_total" })
                Assert.InRange(m.Value("celery_metric_series", ("metric", family)), MaxSeries, MaxSeries + 1);
            // A histogram's label set is 21 series (18 buckets, +Inf, _sum, _count): 14 fit, and the overflow's.
            Assert.Equal(15 * 21, m.Value("celery_metric_series", ("metric", "celery_task_duration_seconds")));
            Assert.Equal(15 * 18, m.Samples("celery_task_duration_seconds_bucket").Count(s => s.Labels["le"] != "+Inf"));
            Assert.True(m.Value("celery_metric_series_overflowed_total", ("metric", "celery_task_failed_total")) > 0);
        }, TimeSpan.FromSeconds(30));
        var exposition = await node.Http.GetStringAsync("/metrics");
        Assert.InRange(exposition.Split('\n').Count(l => l.StartsWith("celery_task_failed_total{", StringComparison.Ordinal)),
            MaxSeries, MaxSeries + 1);

        // Idle for the TTL (3 s, checked every second): the junk names and their series go.
        await Support.Eventually.Holds(async () =>
            Assert.DoesNotContain("junk-", await node.Http.GetStringAsync("/metrics")), TimeSpan.FromSeconds(20));
        await subscriber.PublishAsync(channel,
            """{"type":"task_execution","task_name":"real.after","queue":"flood","duration":0.1,"status":"failure","exception":"KeyError"}""");
        await Support.Eventually.Holds(async () =>
            Assert.Equal(1, (await node.ScrapeAsync()).Value("celery_task_failed_total",
                ("task_name", "real.after"), ("queue", "flood"), ("exception", "KeyError"))));
    }
}
