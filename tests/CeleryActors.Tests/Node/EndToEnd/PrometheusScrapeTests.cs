using CeleryActors.Tests.Fixtures;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>A real Prometheus scrapes a real host node; every metric family of SPEC §3 is read back through
/// Prometheus's HTTP API.</summary>
public class PrometheusScrapeTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    /// <summary>SPEC §3, with the types Prometheus must report.</summary>
    public static readonly (string Family, string Type)[] SpecFamilies =
    [
        ("celery_task_started_total", "counter"),
        ("celery_task_succeeded_total", "counter"),
        ("celery_task_failed_total", "counter"),
        ("celery_task_duration_seconds", "histogram"),
        ("celery_worker_active_tasks", "gauge"),
        ("celery_worker_pool_size", "gauge"),
        ("celery_worker_reserved_tasks", "gauge"),
        ("celery_queue_length", "gauge"),
        ("celery_queue_consumers", "gauge"),
        ("celery_redis_pubsub_messages_total", "counter"),
        ("celery_redis_pubsub_latency_seconds", "histogram"),
        ("celery_task_allocation_total", "counter"),
        ("celery_task_allocation_duration_seconds", "histogram"),
        ("celery_worker_up", "gauge"),
        ("celery_messages_rejected_total", "counter"),
    ];

    /// <summary>A selector per family that only the messages of this test feed: the metrics channel feeds the task
    /// and pub/sub families, the allocator (a worker registered and a task allocated over pub/sub) the worker,
    /// consumer and allocation families.</summary>
    private static readonly Dictionary<string, string> FedFamilies = new()
    {
        ["celery_task_started_total"] = "celery_task_started_total{task_name=\"prom.t\"}",
        ["celery_task_succeeded_total"] = "celery_task_succeeded_total{task_name=\"prom.t\"}",
        ["celery_task_failed_total"] = "celery_task_failed_total{task_name=\"prom.t\",exception=\"OSError\"}",
        ["celery_task_duration_seconds"] = "celery_task_duration_seconds_count{task_name=\"prom.t\"}",
        ["celery_worker_active_tasks"] = "celery_worker_active_tasks{worker=\"prom-worker\"}",
        ["celery_worker_pool_size"] = "celery_worker_pool_size{worker=\"prom-worker\"} == 2",
        ["celery_worker_reserved_tasks"] = "celery_worker_reserved_tasks{worker=\"prom-worker\"} == 1",
        ["celery_worker_up"] = "celery_worker_up{worker=\"prom-worker\"} == 1",
        ["celery_queue_length"] = "celery_queue_length{queue=\"prom\"}",
        ["celery_queue_consumers"] = "celery_queue_consumers{queue=\"prom-alloc\"} == 1",
        ["celery_redis_pubsub_messages_total"] = "celery_redis_pubsub_messages_total{channel=\"prom-channel\"}",
        ["celery_redis_pubsub_latency_seconds"] = "celery_redis_pubsub_latency_seconds_count{channel=\"prom-channel\"}",
        ["celery_task_allocation_total"] = "celery_task_allocation_total{queue=\"prom-alloc\",worker=\"prom-worker\"} == 1",
        ["celery_task_allocation_duration_seconds"] = "celery_task_allocation_duration_seconds_count{queue=\"prom-alloc\"} == 1",
        ["celery_messages_rejected_total"] = "celery_messages_rejected_total{reason=\"invalid_json\"}",
    };

    [Fact]
    public async Task Prometheus_scrapes_the_node_and_every_spec_family_reads_back_through_its_api()
    {
        var publisher = fixture.Redis.Connection.GetSubscriber();
        var channel = RedisChannel.Literal("metrics");
        await publisher.PublishAsync(channel, """{"type":"task_execution","task_name":"prom.t","queue":"prom","duration":0.3,"status":"success"}""");
        await publisher.PublishAsync(channel, """{"type":"task_execution","task_name":"prom.t","queue":"prom","duration":0.4,"status":"failure","exception":"OSError"}""");
        await publisher.PublishAsync(channel, """{"type":"queue_length","queue":"prom","length":3}""");
        await publisher.PublishAsync(channel, """{"type":"pubsub_message","channel":"prom-channel","message_type":"x","latency":0.01}""");
        await publisher.PublishAsync(channel, "garbage");
        // The allocator feeds the rest: a worker that takes one task and has not started it yet.
        await publisher.PublishAsync(RedisChannel.Literal("workers:control"),
            """{"type":"register","worker":"prom-worker","queues":["prom-alloc"],"pool_size":2}""");
        await Support.Eventually.Holds(async () =>
            Assert.Equal(1, (await fixture.Node.ScrapeAsync()).Value("celery_worker_up", ("worker", "prom-worker"))));
        await publisher.PublishAsync(RedisChannel.Literal("tasks:prom-alloc"), """{"task_name":"prom.alloc","task_id":"prom-1"}""");

        await using var prometheus = await PrometheusProcess.StartAsync($"127.0.0.1:{fixture.Node.MetricsPort}");
        await Support.Eventually.Holds(async () =>
        {
            var up = await prometheus.QueryAsync("up{job=\"celery-metrics\"}");
            Assert.Equal("1", Assert.Single(up).GetProperty("value")[1].GetString());
            foreach (var (family, selector) in FedFamilies)
            {
                var result = await prometheus.QueryAsync(selector);
                Assert.True(result.Length > 0, $"{family}: no series for {selector}");
            }
            var started = Assert.Single(await prometheus.QueryAsync("celery_task_started_total{task_name=\"prom.t\",queue=\"prom\"}"));
            Assert.Equal("2", started.GetProperty("value")[1].GetString());
            var p = Assert.Single(await prometheus.QueryAsync(
                "histogram_quantile(0.5, sum by (le) (celery_task_duration_seconds_bucket{task_name=\"prom.t\"}))"));
            Assert.InRange(double.Parse(p.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture), 0.25, 0.5);

            Assert.Equal(SpecFamilies.Select(f => f.Family).Order(), FedFamilies.Keys.Order());
            // Every family of the contract is known to Prometheus with the right type. Prometheus
            // asks for OpenMetrics, where a counter family is named without its _total suffix.
            foreach (var (family, type) in SpecFamilies)
            {
                var metadataName = type == "counter" ? family[..^"_total".Length] : family;
                Assert.Equal(type, await prometheus.MetadataTypeAsync(metadataName));
            }
        }, TimeSpan.FromSeconds(45));
    }
}
