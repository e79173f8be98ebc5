using System.Text.Json;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Celery.EndToEnd;

/// <summary>
/// A host node watching a real Celery deployment: a real worker (Debian's python3-celery) with events on, tasks
/// sent by Celery's own producer, all on a private redis-server. The node's metrics must match what the worker
/// did, exactly.
/// </summary>
public class CeleryMonitoringTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);

    private static object Queue(string queue, int? priority = null) =>
        priority is null ? new { queue } : new { queue, priority };

    private sealed class Deployment : IAsyncDisposable
    {
        public required RedisServerProcess Redis { get; init; }
        public required HostNodeProcess Node { get; init; }
        public string BrokerUrl => Redis.Url.ToString();

        public static async Task<Deployment> StartAsync(Dictionary<string, string>? settings = null)
        {
            var redis = await RedisServerProcess.StartAsync();
            var environment = new Dictionary<string, string>
            {
                ["REDIS_URL"] = redis.Url.ToString(),
                ["CELERY_BROKER_URL"] = redis.Url.ToString(),
                ["METRICS_REFRESH_INTERVAL"] = "0.5",
                ["CELERY_INSPECT_INTERVAL"] = "1.5",
                ["CELERY_INSPECT_TIMEOUT"] = "0.7",
            };
            foreach (var (k, v) in settings ?? []) environment[k] = v;
            try
            {
                return new Deployment { Redis = redis, Node = await HostNodeProcess.StartAsync(environment) };
            }
            catch
            {
                await redis.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Node.DisposeAsync();
            await Redis.DisposeAsync();
        }
    }

    [Fact]
    public async Task Task_and_worker_metrics_match_what_a_real_worker_did()
    {
        await using var deployment = await Deployment.StartAsync();
        await using var worker = await CeleryWorkerProcess.StartAsync(deployment.BrokerUrl, "w1", "default,data_processing", 3);
        await Eventually.Holds(async () =>
            Assert.Equal(1, (await deployment.Node.ScrapeAsync()).Value("celery_worker_up", ("worker", worker.Name))), Deadline);

        var tasks = new List<(string, object[], object)>();
        for (var i = 0; i < 5; i++) tasks.Add(("shop.ok", [i], Queue("default")));
        for (var i = 0; i < 2; i++) tasks.Add(("shop.declined", [4242], Queue("data_processing")));
        for (var i = 0; i < 3; i++) tasks.Add(("shop.lookup", ["missing"], Queue("default")));
        tasks.Add(("shop.flaky", [1], Queue("default")));
        tasks.Add(("shop.long", [1.5], Queue("data_processing")));
        await CeleryWorkerProcess.SendAsync(deployment.BrokerUrl, tasks);

        await Eventually.Holds(async () =>
        {
            var m = await deployment.Node.ScrapeAsync();
            Assert.Equal(5, m.Value("celery_task_started_total", ("task_name", "shop.ok"), ("queue", "default")));
            Assert.Equal(5, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "default")));
            Assert.Equal(5, m.Value("celery_task_duration_seconds_count", ("task_name", "shop.ok"), ("queue", "default")));
            Assert.Equal(2, m.Value("celery_task_started_total", ("task_name", "shop.declined"), ("queue", "data_processing")));
            Assert.Equal(2, m.Value("celery_task_failed_total", ("task_name", "shop.declined"), ("queue", "data_processing"), ("exception", "PaymentDeclined")));
            Assert.Equal(3, m.Value("celery_task_failed_total", ("task_name", "shop.lookup"), ("queue", "default"), ("exception", "KeyError")));
            Assert.Equal(3, m.Value("celery_task_started_total", ("task_name", "shop.flaky"), ("queue", "default")));
            Assert.Equal(2, m.Value("celery_task_retried_total", ("task_name", "shop.flaky"), ("queue", "default")));
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "shop.flaky"), ("queue", "default")));
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "shop.long"), ("queue", "data_processing")));
            Assert.InRange(m.Value("celery_task_duration_seconds_sum", ("task_name", "shop.long"), ("queue", "data_processing")), 1.4, 3);
            // Nothing counted twice, nothing failed that succeeded, nothing lost.
            Assert.Equal(14, m.Sum("celery_task_started_total"));
            Assert.Equal(7, m.Sum("celery_task_succeeded_total"));
            Assert.Equal(5, m.Sum("celery_task_failed_total"));
            Assert.Equal(0, m.Sum("celery_events_lost_total"));
            Assert.Equal(0, m.Sum("celery_messages_rejected_total"));
            // Each run was received once (a retry is received again) and its wait in the queue observed once.
            Assert.Equal(14, m.Sum("celery_task_received_total"));
            Assert.Equal(14, m.Sum("celery_task_queue_wait_seconds_count"));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", worker.Name)));
            Assert.True(m.Sum("celery_redis_pubsub_messages_total", ("message_type", "task.multi")) > 0);
        }, Deadline);
    }

    [Fact]
    public async Task Pool_size_active_reserved_and_consumers_come_from_remote_control()
    {
        await using var deployment = await Deployment.StartAsync();
        await using var w1 = await CeleryWorkerProcess.StartAsync(deployment.BrokerUrl, "w1", "default", 2);
        await using var w2 = await CeleryWorkerProcess.StartAsync(deployment.BrokerUrl, "w2", "data_processing", 3);
        // w1 runs two and holds two prefetched; w2 runs two of its three.
        await CeleryWorkerProcess.SendAsync(deployment.BrokerUrl,
            Enumerable.Range(0, 4).Select(_ => ("shop.long", new object[] { 10 }, Queue("default")))
                .Concat(Enumerable.Range(0, 2).Select(_ => ("shop.long", new object[] { 10 }, Queue("data_processing")))));

        await Eventually.Holds(async () =>
        {
            var m = await deployment.Node.ScrapeAsync();
            Assert.Equal(2, m.Value("celery_worker_pool_size", ("worker", w1.Name), ("source", "celery")));
            Assert.Equal(3, m.Value("celery_worker_pool_size", ("worker", w2.Name), ("source", "celery")));
            Assert.Equal(2, m.Value("celery_worker_active_tasks", ("worker", w1.Name)));
            Assert.Equal(2, m.Value("celery_worker_reserved_tasks", ("worker", w1.Name)));
            Assert.Equal(2, m.Value("celery_worker_active_tasks", ("worker", w2.Name)));
            Assert.Equal(0, m.Value("celery_worker_reserved_tasks", ("worker", w2.Name)));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "default"), ("source", "celery")));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "data_processing"), ("source", "celery")));
            // Celery acknowledges a message when its task starts: the two prefetched ones are still unacked.
            Assert.Equal(2, m.Value("celery_queue_unacked", ("queue", "default")));
            // Two workers on one host are two workers.
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", w1.Name)));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", w2.Name)));
        }, Deadline);
    }

    [Theory]
    [InlineData(":")]
    [InlineData("")] // kombu's default separator and default priority steps
    public async Task Queue_length_counts_every_priority_sub_list(string separator)
    {
        await using var deployment = await Deployment.StartAsync();
        var env = separator.Length == 0 ? null : new Dictionary<string, string> { ["CELERY_SEP"] = separator };
        var priorities = new[] { 0, 0, 3, 3, 3, 6, 9, 9, 9, 9 };
        await CeleryWorkerProcess.SendAsync(deployment.BrokerUrl,
            priorities.Select(p => ("shop.ok", new object[] { p }, Queue("prio", p))), env);

        await Eventually.Holds(async () =>
        {
            var m = await deployment.Node.ScrapeAsync();
            Assert.Equal(priorities.Length, m.Value("celery_queue_length", ("queue", "prio")));
            Assert.Equal(priorities.Length, m.Sum("celery_queue_length_by_priority", ("queue", "prio")));
            if (separator.Length > 0)
            {
                Assert.Equal(4, m.Value("celery_queue_length_by_priority", ("queue", "prio"), ("priority", "9")));
                Assert.Equal(3, m.Value("celery_queue_length_by_priority", ("queue", "prio"), ("priority", "3")));
            }
            // Nobody consumes it: exactly what an operator must see (a series at 0, not a missing one).
            Assert.Equal(0, Assert.Single(m.Samples("celery_queue_consumers"), s => s.Has(("queue", "prio"))).Value);
        }, Deadline);
        // The oldest task's age grows while nothing takes it.
        await Eventually.Holds(async () =>
            Assert.True((await deployment.Node.ScrapeAsync()).Value("celery_queue_oldest_task_age_seconds", ("queue", "prio")) >= 1.0),
            Deadline);
    }

    [Fact]
    public async Task A_Celery_worker_and_an_allocator_worker_of_the_same_name_keep_their_own_series()
    {
        const string prefix = "same:";
        await using var deployment = await Deployment.StartAsync(new()
        {
            ["ALLOCATOR_CHANNEL_PREFIX"] = prefix,
            ["ALLOCATOR_WORKER_TIMEOUT"] = "120",
        });
        await using var worker = await CeleryWorkerProcess.StartAsync(deployment.BrokerUrl, "twin", "default", 2);
        var register = JsonSerializer.Serialize(new { type = "register", worker = worker.Name, queues = new[] { "default" }, pool_size = 7 });
        using var redis = await ConnectionMultiplexer.ConnectAsync(deployment.Redis.ConnectionString);
        // Pub/sub drops what nobody hears: publish until the node's allocator has the worker.
        await Eventually.Holds(async () =>
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(prefix + "workers:control"), register);
            var m = await deployment.Node.ScrapeAsync();
            Assert.Equal(7, m.Value("celery_worker_pool_size", ("worker", worker.Name), ("source", "allocator")));
            Assert.Equal(2, m.Value("celery_worker_pool_size", ("worker", worker.Name), ("source", "celery")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", worker.Name), ("source", "allocator")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", worker.Name), ("source", "celery")));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "default"), ("source", "allocator")));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "default"), ("source", "celery")));
        }, Deadline);

        // The Celery worker leaving changes Celery's series only.
        await worker.DisposeAsync();
        await Eventually.Holds(async () =>
        {
            var m = await deployment.Node.ScrapeAsync();
            Assert.Equal(0, m.Value("celery_worker_up", ("worker", worker.Name), ("source", "celery")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", worker.Name), ("source", "allocator")));
            Assert.Equal(7, m.Value("celery_worker_pool_size", ("worker", worker.Name), ("source", "allocator")));
        }, Deadline);
    }

    [Fact]
    public async Task A_worker_killed_with_sigkill_goes_offline_within_the_timeout()
    {
        await using var deployment = await Deployment.StartAsync(new() { ["CELERY_WORKER_TIMEOUT"] = "4" });
        await using var worker = await CeleryWorkerProcess.StartAsync(deployment.BrokerUrl, "doomed", "default", 1);
        await Eventually.Holds(async () =>
            Assert.Equal(1, (await deployment.Node.ScrapeAsync()).Value("celery_worker_up", ("worker", worker.Name))), Deadline);

        await worker.KillAsync();
        var killedAt = DateTime.UtcNow;
        await Eventually.Holds(async () =>
            Assert.Equal(0, (await deployment.Node.ScrapeAsync()).Value("celery_worker_up", ("worker", worker.Name))),
            TimeSpan.FromSeconds(20));
        // Heartbeats come every 2 s: offline no earlier than the timeout after the last one, and not much later.
        Assert.InRange((DateTime.UtcNow - killedAt).TotalSeconds, 1.5, 9);
    }

    [Fact]
    public async Task Several_brokers_each_with_a_worker_of_the_same_name_are_told_apart_by_the_broker_label()
    {
        await using var eu = await RedisServerProcess.StartAsync();
        await using var us = await RedisServerProcess.StartAsync();
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = eu.Url.ToString(),
            ["CELERY_BROKERS"] = $"eu={eu.Url},us={us.Url}",
            ["METRICS_REFRESH_INTERVAL"] = "0.5",
            ["CELERY_INSPECT_INTERVAL"] = "1.5",
            ["CELERY_INSPECT_TIMEOUT"] = "0.7",
        });
        // One name on both: without the label the two workers would be one series, overwritten by turns.
        await using var euWorker = await CeleryWorkerProcess.StartAsync(eu.Url.ToString(), "w1", "default", 2);
        await using var usWorker = await CeleryWorkerProcess.StartAsync(us.Url.ToString(), "w1", "default", 3);
        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", euWorker.Name), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", usWorker.Name), ("broker", "us")));
        }, Deadline);

        await CeleryWorkerProcess.SendAsync(eu.Url.ToString(),
            Enumerable.Range(0, 3).Select(i => ("shop.ok", new object[] { i }, Queue("default"))));
        await CeleryWorkerProcess.SendAsync(us.Url.ToString(),
            Enumerable.Range(0, 2).Select(i => ("shop.ok", new object[] { i }, Queue("default")))
                .Append(("shop.declined", new object[] { 4242 }, Queue("default"))));

        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(3, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "default"), ("broker", "eu")));
            Assert.Equal(2, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "default"), ("broker", "us")));
            Assert.Equal(1, m.Value("celery_task_failed_total", ("task_name", "shop.declined"), ("broker", "us"), ("exception", "PaymentDeclined")));
            Assert.Equal(0, m.Sum("celery_task_failed_total", ("broker", "eu")));
            Assert.Equal(2, m.Value("celery_worker_pool_size", ("worker", euWorker.Name), ("broker", "eu")));
            Assert.Equal(3, m.Value("celery_worker_pool_size", ("worker", usWorker.Name), ("broker", "us")));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "default"), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "default"), ("broker", "us")));
            Assert.Equal(1, m.Value("celery_broker_up", ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_broker_up", ("broker", "us")));
            // Nothing of one broker counted under the other, nothing under no broker.
            Assert.Equal(6, m.Sum("celery_task_started_total"));
            Assert.All(m.Samples("celery_task_started_total"), x => Assert.Contains(x.Labels["broker"], new[] { "eu", "us" }));
            Assert.Equal(0, m.Sum("celery_events_lost_total"));
        }, Deadline);

        // One broker going away leaves the other watched.
        await usWorker.DisposeAsync();
        await us.DisposeAsync();
        await CeleryWorkerProcess.SendAsync(eu.Url.ToString(), [("shop.ok", new object[] { 9 }, Queue("default"))]);
        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(0, m.Value("celery_broker_up", ("broker", "us")));
            Assert.Equal(1, m.Value("celery_broker_up", ("broker", "eu")));
            Assert.Equal(4, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "default"), ("broker", "eu")));
        }, Deadline);
    }
}
