using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Metrics;
using CeleryActors.Redis;
using CeleryActors.Tests.Support;
using Prometheus;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;
using static CeleryActors.Tests.Support.CeleryEnvelope;

namespace CeleryActors.Tests.Celery.Actors;

/// <summary>The events actor on a real Redis, fed hand-made events in kombu's envelope.</summary>
public class CeleryEventsActorTests(ITestOutputHelper output) : TestKit(output: output), IAsyncLifetime
{
    private RedisServerProcess _redis = null!;
    private ConnectionMultiplexer _node = null!;
    private ConnectionMultiplexer _publisher = null!;
    private readonly CeleryMonitorMetrics _monitor = new(new CeleryMetrics(Metrics.NewCustomRegistry(), 100));

    public async Task InitializeAsync()
    {
        _redis = await RedisServerProcess.StartAsync();
        _node = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        _publisher = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _publisher.DisposeAsync();
        await _node.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private (IActorRef Events, Akka.TestKit.TestProbe Queues) Start(TimeSpan? workerTimeout = null, TimeSpan? ttl = null,
        CeleryMonitorMetrics? monitor = null, string? broker = null)
    {
        monitor ??= _monitor;
        var metrics = monitor.Node;
        var settings = CeleryMonitorSettings.For(_redis.Url) with
        {
            WorkerTimeout = workerTimeout ?? TimeSpan.FromSeconds(10),
            OfflineSeriesTtl = ttl ?? TimeSpan.FromMinutes(5),
        };
        var queues = CreateTestProbe();
        var recorder = Sys.ActorOf(MetricsRecorderActor.Props(metrics, ObservationPipelineSettings.Default,
            queueWaitSeries: monitor.QueueWaitSeries));
        var events = Sys.ActorOf(CeleryEventsActor.Props(settings with { BrokerName = broker },
            new CeleryBrokerMetrics(monitor, broker), queues.Ref, recorder));
        AwaitAssert(() => Assert.Equal(1, _publisher.GetServers()[0].SubscriptionPatternCount()), TimeSpan.FromSeconds(10));
        return (events, queues);
    }

    private void Publish(string routingKey, object body) =>
        _publisher.GetSubscriber().Publish(RedisChannel.Literal("/0.celeryev/" + routingKey), Of(body, routingKey));

    private MetricFamilies Scrape(CeleryMetrics? metrics = null)
    {
        using var stream = new MemoryStream();
        (metrics ?? _monitor.Node).Registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return PrometheusText.Parse(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public void Names_and_queues_come_from_what_was_remembered_and_misses_are_counted()
    {
        var (_, queues) = Start();
        Publish("task.sent", Task("task-sent", "t1", "producer@h", name: "shop.ok", queue: "payments"));
        Assert.Equal(["payments"], queues.ExpectMsg<CeleryQueuesDiscovered>().Queues);
        Publish("task.multi", new[]
        {
            Task("task-received", "t1", "w@h", name: "shop.ok"),
            Task("task-started", "t1", "w@h"),
            Task("task-succeeded", "t1", "w@h", runtime: 0.3),
            Task("task-started", "never-seen", "w@h"),
            Task("task-failed", "never-seen", "w@h", exception: "OSError(5)"),
        });

        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(0.3, m.Value("celery_task_duration_seconds_sum", ("task_name", "shop.ok"), ("queue", "payments")), 6);
            Assert.Equal(1, m.Value("celery_task_failed_total", ("task_name", "unknown"), ("queue", "unknown"), ("exception", "OSError")));
            Assert.Equal(2, m.Value("celery_task_memory_misses_total"));
        }, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void With_several_brokers_every_series_of_a_broker_carries_its_name_and_other_sources_carry_none()
    {
        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), 100, byBroker: true);
        Start(monitor: new CeleryMonitorMetrics(metrics), broker: "eu");
        metrics.CountTaskExecution(new TrackTaskExecution("shop.ok", "payments", 0.1, TaskOutcome.Success)); // metrics channel
        Publish("task.multi", new[]
        {
            Task("task-sent", "t1", "producer@h", name: "shop.ok", queue: "payments"),
            Task("task-received", "t1", "w@h", name: "shop.ok"),
            Task("task-started", "t1", "w@h"),
            Task("task-succeeded", "t1", "w@h", runtime: 0.3),
            Task("task-failed", "t2", "w@h", exception: "OSError(5)"),
        });
        _publisher.GetSubscriber().Publish(RedisChannel.Literal("/0.celeryev/task.multi"), "not json");

        AwaitAssert(() =>
        {
            var m = Scrape(metrics);
            Assert.Equal(1, m.Value("celery_task_sent_total", ("task_name", "shop.ok"), ("queue", "payments"), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "payments"), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_task_duration_seconds_count", ("task_name", "shop.ok"), ("queue", "payments"), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_task_failed_total", ("exception", "OSError"), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", "w@h"), ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_task_memory_misses_total", ("broker", "eu")));
            Assert.Equal(1, m.Value("celery_messages_rejected_total", ("channel_kind", "celery_events"), ("broker", "eu")));
            Assert.True(m.Sum("celery_redis_pubsub_messages_total", ("broker", "eu")) >= 2);
            // The same name from the metrics channel is its own series, with an empty broker (no label to Prometheus).
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "payments"), ("broker", "")));
            // Every series of a family the monitor writes has the label.
            Assert.All(m.Samples("celery_task_started_total"), x => Assert.True(x.Labels.ContainsKey("broker")));
        }, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Sent_received_revoked_and_rejected_are_counted_new_label_sets_start_at_zero_and_queue_wait_leaves_out_the_eta()
    {
        var (_, queues) = Start();
        Dictionary<string, object?> At(Dictionary<string, object?> e, double timestamp, string? eta = null)
        {
            e["timestamp"] = timestamp;
            e["eta"] = eta;
            return e;
        }
        var t0 = 1_800_000_000.0;
        var etaAt = DateTimeOffset.FromUnixTimeMilliseconds((long)((t0 + 60) * 1000)).ToString("O");
        Publish("task.multi", new[]
        {
            At(Task("task-sent", "plain", "producer@h", name: "shop.ok", queue: "payments"), t0),
            At(Task("task-sent", "later", "producer@h", name: "shop.ok", queue: "payments"), t0, etaAt), // due a minute on
            At(Task("task-received", "plain", "w@h", name: "shop.ok"), t0 + 1),
            At(Task("task-received", "later", "w@h", name: "shop.ok"), t0 + 1, etaAt),
            At(Task("task-received", "fresh", "w@h", name: "shop.new"), t0 + 2), // never sent: waits from received
        });
        queues.ExpectMsg<CeleryQueuesDiscovered>();

        // Seen, not finished: the new label sets are there at zero, for increase() to see their first completion.
        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(2, m.Value("celery_task_sent_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(2, m.Value("celery_task_received_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(1, m.Value("celery_task_received_total", ("task_name", "shop.new"), ("queue", "unknown")));
            Assert.Contains(m.Samples("celery_task_started_total"), x => x.Has(("task_name", "shop.new")) && x.Value == 0);
            Assert.Contains(m.Samples("celery_task_succeeded_total"), x => x.Has(("task_name", "shop.ok")) && x.Value == 0);
        }, TimeSpan.FromSeconds(10));

        Publish("task.multi", new[]
        {
            At(Task("task-started", "plain", "w@h"), t0 + 2.5), // waited 2.5 s
            At(Task("task-started", "later", "w@h"), t0 + 61), // due at t0 + 60: waited 1 s, not 61
            At(Task("task-started", "fresh", "w@h"), t0 + 6), // 4 s from received
            At(Task("task-revoked", "gone", "w@h"), t0 + 7),
            At(Task("task-rejected", "bad", "w@h"), t0 + 7),
        });
        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(2, m.Value("celery_task_queue_wait_seconds_count", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(3.5, m.Value("celery_task_queue_wait_seconds_sum", ("task_name", "shop.ok"), ("queue", "payments")), 3);
            Assert.Equal(4, m.Value("celery_task_queue_wait_seconds_sum", ("task_name", "shop.new"), ("queue", "unknown")), 3);
            Assert.Equal(1, m.Value("celery_task_revoked_total", ("task_name", "unknown"), ("queue", "unknown")));
            Assert.Equal(1, m.Value("celery_task_rejected_total", ("task_name", "unknown"), ("queue", "unknown")));
        }, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Events_that_come_before_their_task_sent_wait_for_it_and_count_under_its_queue()
    {
        var (_, queues) = Start();
        // Sent events come in this deployment: from now on a task whose queue is unknown waits for its own.
        Publish("task.sent", Task("task-sent", "first", "producer@h", name: "shop.ok", queue: "payments"));
        queues.ExpectMsg<CeleryQueuesDiscovered>();
        // The worker was quicker than the producer's task-sent (Celery publishes it after the task message).
        Publish("task.multi", new[]
        {
            Task("task-received", "quick", "w@h", name: "shop.ok"),
            Task("task-started", "quick", "w@h"),
            Task("task-succeeded", "quick", "w@h", runtime: 0.2),
            Task("task-received", "unsent", "w@h", name: "shop.orphan"), // its task-sent never comes
        });
        Publish("task.sent", Task("task-sent", "quick", "producer@h", name: "shop.ok", queue: "payments"));

        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(2, m.Value("celery_task_sent_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(1, m.Value("celery_task_received_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(1, m.Value("celery_task_started_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "shop.ok"), ("queue", "payments")));
            Assert.Equal(1, m.Value("celery_task_queue_wait_seconds_count", ("task_name", "shop.ok"), ("queue", "payments")));
            // The one whose task-sent never came is counted after the wait, under what is known.
            Assert.Equal(1, m.Value("celery_task_received_total", ("task_name", "shop.orphan"), ("queue", "unknown")));
            Assert.Equal(1, m.Value("celery_task_memory_misses_total"));
        }, TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(Scrape().Samples("celery_task_started_total"),
            x => x.Has(("task_name", "shop.ok")) && x.Has(("queue", "unknown")));
    }

    [Fact]
    public void Remote_control_fills_in_the_queue_of_a_task_and_of_a_single_queue_worker()
    {
        var (events, _) = Start();
        Publish("worker.online", WorkerEvent("worker-online", "solo@h"));
        AwaitAssert(() => Assert.Equal(1, Scrape().Value("celery_worker_up", ("worker", "solo@h"))), TimeSpan.FromSeconds(10));
        events.Tell(new CeleryWorkerInspected("solo@h", 2, 1, 0, ["video"], new Dictionary<string, string> { ["known"] = "audio" }));
        Publish("task.multi", new[]
        {
            Task("task-received", "known", "solo@h", name: "media.encode"),
            Task("task-started", "known", "solo@h"),
            Task("task-received", "other", "solo@h", name: "media.thumb"),
            Task("task-started", "other", "solo@h"),
        });
        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(1, m.Value("celery_task_started_total", ("task_name", "media.encode"), ("queue", "audio")));
            Assert.Equal(1, m.Value("celery_task_started_total", ("task_name", "media.thumb"), ("queue", "video")));
            Assert.Equal(0, m.Value("celery_task_memory_misses_total"));
        }, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_heartbeat_count_ahead_of_the_events_seen_is_counted_as_lost_events()
    {
        Start();
        Publish("worker.heartbeat", Heartbeat("w@h", processed: 10));
        Publish("task.multi", new[] { Task("task-started", "a", "w@h"), Task("task-started", "b", "w@h") });
        Publish("worker.heartbeat", Heartbeat("w@h", processed: 17)); // 7 started, only 2 seen
        Publish("worker.heartbeat", Heartbeat("w@h", processed: 17)); // a heartbeat later, the gap stands

        AwaitAssert(() => Assert.Equal(5, Scrape().Value("celery_events_lost_total", ("worker", "w@h"))), TimeSpan.FromSeconds(10));
        // A restarted worker counts from 0 again: no false gap.
        Publish("worker.heartbeat", Heartbeat("w@h", processed: 0));
        Publish("worker.heartbeat", Heartbeat("w@h", processed: 0));
        Publish("worker.heartbeat", Heartbeat("w@h", processed: 0));
        AwaitAssert(() => Assert.Equal(5, Scrape().Value("celery_events_lost_total", ("worker", "w@h"))), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_silent_worker_goes_offline_and_its_series_are_removed_after_the_ttl()
    {
        Start(workerTimeout: TimeSpan.FromSeconds(1.5), ttl: TimeSpan.FromSeconds(2));
        Publish("worker.heartbeat", Heartbeat("ghost@h", processed: 0));
        AwaitAssert(() => Assert.Equal(1, Scrape().Value("celery_worker_up", ("worker", "ghost@h"))), TimeSpan.FromSeconds(10));
        AwaitAssert(() =>
        {
            var up = Scrape().Samples("celery_worker_up").Single(s => s.Has(("worker", "ghost@h")));
            Assert.Equal(0, up.Value);
        }, TimeSpan.FromSeconds(10));
        AwaitAssert(() => Assert.DoesNotContain(Scrape().Samples("celery_worker_up"), s => s.Has(("worker", "ghost@h"))),
            TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_worker_offline_event_takes_it_down_at_once()
    {
        Start();
        Publish("worker.online", WorkerEvent("worker-online", "bye@h"));
        AwaitAssert(() => Assert.Equal(1, Scrape().Value("celery_worker_up", ("worker", "bye@h"))), TimeSpan.FromSeconds(10));
        Publish("worker.offline", WorkerEvent("worker-offline", "bye@h"));
        AwaitAssert(() => Assert.Equal(0, Scrape().Samples("celery_worker_up").Single(s => s.Has(("worker", "bye@h"))).Value),
            TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_broker_restart_is_counted_as_a_resubscription_and_events_flow_again()
    {
        Start();
        await _redis.KillAsync();
        await _redis.StartAsync();
        AwaitAssert(() => Assert.Equal(1, Scrape().Value("celery_broker_resubscriptions_total")), TimeSpan.FromSeconds(30));
        await AwaitAssertAsync(async () =>
        {
            await _publisher.GetSubscriber().PublishAsync(RedisChannel.Literal("/0.celeryev/worker.heartbeat"),
                Of(Heartbeat("back@h", processed: 0), "worker.heartbeat"));
            Assert.Equal(1, Scrape().Value("celery_worker_up", ("worker", "back@h")));
        }, TimeSpan.FromSeconds(15));
    }
}
