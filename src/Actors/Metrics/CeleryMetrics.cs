using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using Prometheus;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// The node's metric families (SPEC §3 and the project's own) on one registry per node: the shared ones (task
/// counters and durations, worker and queue gauges, pub/sub, Redis and the caps' own), and the label caps, series
/// caps and label expiry that each feature's own families use too (<c>CeleryMonitorMetrics</c>,
/// <c>AllocatorMetrics</c>). Names, types and labels are a contract
/// that dashboards and alerts depend on. Label values from outside pass through a
/// <see cref="LabelLimiter"/> per label. Counters and gauges are thread-safe; histogram observations go through
/// the <see cref="ObservationPipeline"/> instead of being recorded here on the hot path.
/// </summary>
public sealed class CeleryMetrics
{
    /// <summary>The buckets of the duration histograms (seconds).</summary>
    internal static readonly double[] DurationBuckets =
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>The buckets of the latency histograms (seconds).</summary>
    internal static readonly double[] LatencyBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>The default of <c>METRICS_MAX_SERIES</c>: series per family.</summary>
    public const int DefaultMaxSeries = 10_000;

    private readonly MetricCaps _caps;
    private readonly MetricFactory _factory;

    /// <summary>Creates the families on <paramref name="registry"/>.</summary>
    /// <param name="registry">The registry the node's <c>/metrics</c> endpoint exports.</param>
    /// <param name="maxLabelValues">Distinct values kept per label before new ones fold into the overflow value.</param>
    /// <param name="maxSeries">Series kept per family whose labels come from outside before new label sets go to
    /// the family's overflow series.</param>
    /// <param name="clock">Milliseconds of a monotonic clock, for when a label value was last seen; tests pass
    /// their own.</param>
    /// <param name="byBroker">Whether the node watches several Celery brokers (<c>CELERY_BROKERS</c>): every family
    /// the Celery monitor writes then carries a last label <see cref="BrokerLabel"/>, empty on series that other
    /// sources (the metrics channel, the allocator) write.</param>
    public CeleryMetrics(CollectorRegistry registry, int maxLabelValues, int maxSeries = DefaultMaxSeries,
        Func<long>? clock = null, bool byBroker = false)
    {
        Registry = registry;
        ByBrokerLabel = byBroker;
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        var factory = _factory;
        _caps = new MetricCaps(factory, maxLabelValues, maxSeries, clock);

        TaskStarted = BoundedCounter("celery_task_started_total", "Tasks started.", ByBroker("task_name", "queue"));
        TaskSucceeded = BoundedCounter("celery_task_succeeded_total", "Tasks succeeded.",
            ByBroker("task_name", "queue"));
        TaskFailed = BoundedCounter("celery_task_failed_total", "Tasks failed, by exception type.",
            ByBroker("task_name", "queue", "exception"));
        TaskDuration = Bounded(factory.CreateHistogram("celery_task_duration_seconds", "Task execution time in seconds.",
            new HistogramConfiguration { LabelNames = ByBrokerNames(["task_name", "queue"]), Buckets = DurationBuckets }), DurationBuckets.Length + 3);

        WorkerActiveTasks = BoundedGauge("celery_worker_active_tasks", "Tasks running on a worker now.",
            GaugeBySource("worker"));
        WorkerPoolSize = BoundedGauge("celery_worker_pool_size", "A worker's pool capacity (concurrency).",
            GaugeBySource("worker"));
        WorkerReservedTasks = BoundedGauge("celery_worker_reserved_tasks",
            "Tasks handed to a worker and not yet started.", GaugeBySource("worker"));
        WorkerUp = BoundedGauge("celery_worker_up", "1 while the worker is online, 0 once it is offline.",
            GaugeBySource("worker"));

        QueueLength = BoundedGauge("celery_queue_length", "Tasks waiting in a queue.", GaugeBySource("queue"));
        QueueConsumers = BoundedGauge("celery_queue_consumers", "Workers consuming a queue.",
            GaugeBySource("queue"));

        PubSubMessages = BoundedCounter("celery_redis_pubsub_messages_total", "Pub/sub messages handled.",
            ByBroker("channel", "message_type"));
        PubSubLatency = Bounded(factory.CreateHistogram("celery_redis_pubsub_latency_seconds",
            "Publish-to-handled latency of a pub/sub message in seconds.",
            new HistogramConfiguration { LabelNames = ByBrokerNames(["channel"]), Buckets = LatencyBuckets }), LatencyBuckets.Length + 3);

        MessagesRejected = factory.CreateCounter("celery_messages_rejected_total",
            "Inbound messages rejected, by kind of channel and reason.", ByBroker("channel_kind", "reason"));
        RedisConnected = factory.CreateGauge("celery_redis_connected",
            "1 while the node's last probe of Redis succeeded, 0 otherwise.");
        RedisResubscriptions = factory.CreateCounter("celery_redis_resubscriptions_total",
            "Times the node's pub/sub subscription was re-established after a lost connection.");
        PubSubDropped = factory.CreateCounter("celery_redis_pubsub_dropped_total",
            "Pub/sub messages dropped unread because the subscriber's buffer of messages not handled yet was full " +
            "(MAX_BUFFERED_BYTES), by subscriber.", ByBroker("subscription"));
        ObservationsDropped = factory.CreateCounter("celery_observations_dropped_total",
            "Histogram observations dropped because the observation pipeline's buffer was full.");

        registry.AddBeforeCollectCallback(UpdateSeriesCounts);
    }

    /// <summary>The registry the families live on.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>The label that tells brokers apart when the node watches several.</summary>
    public const string BrokerLabel = "broker";

    /// <summary>Whether the families the Celery monitor writes carry <see cref="BrokerLabel"/>.</summary>
    public bool ByBrokerLabel { get; }

    /// <summary>The label values of a series of a family the Celery monitor writes: <paramref name="a"/>, then
    /// <paramref name="broker"/> (empty when null) if the families carry the broker label.</summary>
    public string[] Key(string? broker, string a) => ByBrokerLabel ? [a, broker ?? ""] : [a];

    /// <summary>As <see cref="Key(string?, string)"/>, for two labels.</summary>
    public string[] Key(string? broker, string a, string b) => ByBrokerLabel ? [a, b, broker ?? ""] : [a, b];

    /// <summary>As <see cref="Key(string?, string)"/>, for three labels.</summary>
    public string[] Key(string? broker, string a, string b, string c) =>
        ByBrokerLabel ? [a, b, c, broker ?? ""] : [a, b, c];

    /// <summary>The label values of a worker or queue gauge (<see cref="SeriesSource"/>): the worker or queue,
    /// the broker when the node watches several, then the source.</summary>
    public string[] SourcedKey(string source, string? broker, string a) =>
        ByBrokerLabel ? [a, broker ?? "", source] : [a, source];

    /// <summary>The one series of a counter without labels of its own that the Celery monitor writes: per broker
    /// when the families carry the broker label.</summary>
    public ICounter Of(Counter family, string? broker) => ByBrokerLabel ? family.WithLabels(broker ?? "") : family;

    /// <summary>As <see cref="Of(Counter, string?)"/>, for a gauge.</summary>
    public IGauge Of(Gauge family, string? broker) => ByBrokerLabel ? family.WithLabels(broker ?? "") : family;

    /// <summary><c>celery_task_started_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskStarted { get; }

    /// <summary><c>celery_task_succeeded_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskSucceeded { get; }

    /// <summary><c>celery_task_failed_total{task_name, queue, exception}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskFailed { get; }

    /// <summary><c>celery_task_duration_seconds{task_name, queue}</c>.</summary>
    public BoundedFamily<Histogram.Child> TaskDuration { get; }

    /// <summary><c>celery_worker_active_tasks{worker, source}</c>.</summary>
    public BoundedFamily<Gauge.Child> WorkerActiveTasks { get; }

    /// <summary><c>celery_worker_pool_size{worker, source}</c>.</summary>
    public BoundedFamily<Gauge.Child> WorkerPoolSize { get; }

    /// <summary><c>celery_worker_reserved_tasks{worker, source}</c>.</summary>
    public BoundedFamily<Gauge.Child> WorkerReservedTasks { get; }

    /// <summary><c>celery_worker_up{worker, source}</c>.</summary>
    public BoundedFamily<Gauge.Child> WorkerUp { get; }

    /// <summary><c>celery_queue_length{queue, source}</c>.</summary>
    public BoundedFamily<Gauge.Child> QueueLength { get; }

    /// <summary><c>celery_queue_consumers{queue, source}</c>.</summary>
    public BoundedFamily<Gauge.Child> QueueConsumers { get; }

    /// <summary><c>celery_redis_pubsub_messages_total{channel, message_type}</c>.</summary>
    public BoundedFamily<Counter.Child> PubSubMessages { get; }

    /// <summary><c>celery_redis_pubsub_latency_seconds{channel}</c>.</summary>
    public BoundedFamily<Histogram.Child> PubSubLatency { get; }

    /// <summary><c>celery_messages_rejected_total{channel_kind, reason}</c>.</summary>
    public Counter MessagesRejected { get; }

    /// <summary><c>celery_redis_connected</c>.</summary>
    public Gauge RedisConnected { get; }

    /// <summary><c>celery_redis_resubscriptions_total</c>.</summary>
    public Counter RedisResubscriptions { get; }

    /// <summary><c>celery_redis_pubsub_dropped_total{subscription}</c>: the subscribers are the constants of
    /// <see cref="PubSubMessagesDropped"/>, a fixed set.</summary>
    public Counter PubSubDropped { get; }

    /// <summary><c>celery_observations_dropped_total</c>.</summary>
    public Counter ObservationsDropped { get; }

    /// <summary><c>celery_label_values_overflowed_total{label}</c>.</summary>
    public Counter LabelOverflows => _caps.LabelOverflows;

    /// <summary><c>celery_metric_series_overflowed_total{metric}</c>.</summary>
    public Counter SeriesOverflows => _caps.SeriesOverflows;

    /// <summary><c>celery_metric_series{metric}</c>, set before each collection.</summary>
    public Gauge SeriesCount => _caps.SeriesCount;

    /// <summary>Counts a task start, success or failure reported by an allocator worker.</summary>
    public void CountTaskProgress(string taskName, string queue, TaskProgress progress, string? exception)
    {
        var task = Bounded("task_name", taskName);
        var q = Queue(queue);
        switch (progress)
        {
            case TaskProgress.Started: TaskStarted.WithLabels(Key(null, task, q)).Inc(); break;
            case TaskProgress.Succeeded: TaskSucceeded.WithLabels(Key(null, task, q)).Inc(); break;
            case TaskProgress.Failed: TaskFailed.WithLabels(Key(null, task, q, Bounded("exception", exception ?? LabelValues.Unknown))).Inc(); break;
        }
    }

    /// <summary>The bounded label value of a worker.</summary>
    public string Worker(string worker) => Bounded("worker", worker);

    /// <summary>The bounded label value of a queue.</summary>
    public string Queue(string queue) => Bounded("queue", queue);

    /// <summary>Passes <paramref name="value"/> through the cap of <paramref name="label"/>.</summary>
    public string Bounded(string label, string value) => _caps.Admit(label, value);

    /// <summary>Counts one tracked task execution (start plus success or failure). The duration is observed
    /// separately, through the pipeline.</summary>
    public void CountTaskExecution(TrackTaskExecution execution)
    {
        var task = Bounded("task_name", execution.TaskName);
        var queue = Bounded("queue", execution.Queue);
        var key = Key(null, task, queue);
        TaskStarted.WithLabels(key).Inc();
        if (execution.Outcome == TaskOutcome.Success)
            TaskSucceeded.WithLabels(key).Inc();
        else
            TaskFailed.WithLabels(Key(null, task, queue, Bounded("exception", execution.Exception ?? LabelValues.Unknown))).Inc();
    }

    /// <summary>The histogram series a task execution's duration is observed into.</summary>
    public Histogram.Child TaskDurationSeries(string taskName, string queue, string? broker = null) =>
        TaskDuration.WithLabels(Key(broker, Bounded("task_name", taskName), Bounded("queue", queue)));

    /// <summary>Counts one handled pub/sub message.</summary>
    public void CountPubSubMessage(string channel, string messageType, string? broker = null) =>
        PubSubMessages.WithLabels(Key(broker, Bounded("channel", channel), Bounded("message_type", messageType))).Inc();

    /// <summary>The latency series of a channel.</summary>
    public Histogram.Child PubSubLatencySeries(string channel, string? broker = null) =>
        PubSubLatency.WithLabels(Key(broker, Bounded("channel", channel)));

    /// <summary>Sets a queue's length reported on the metrics channel (under the allocator's source).</summary>
    public void SetQueueLength(string queue, long length) =>
        QueueLength.WithLabels(SourcedKey(SeriesSource.Allocator, null, Queue(queue))).Set(length);

    /// <summary>Counts one rejected message.</summary>
    public void CountRejection(ChannelKind kind, RejectionReason reason, string? broker = null) =>
        MessagesRejected.WithLabels(Key(broker, LabelValues.Of(kind), LabelValues.Of(reason))).Inc();

    /// <summary>Counts messages a subscriber dropped unread.</summary>
    public void CountDropped(string subscription, long count, string? broker = null) =>
        PubSubDropped.WithLabels(Key(broker, subscription)).Inc(count);

    /// <summary>Frees every label value not seen for <paramref name="idleFor"/>, with the series that carry one
    /// (<see cref="MetricCaps.ExpireIdleLabels"/>).</summary>
    public (int Values, int Series) ExpireIdleLabels(TimeSpan idleFor) => _caps.ExpireIdleLabels(idleFor);

    /// <summary>Sets <c>celery_metric_series</c> from the families' own counts.</summary>
    public void UpdateSeriesCounts() => _caps.UpdateSeriesCounts();

    /// <summary>Frees the slot of <paramref name="value"/> under the cap of <paramref name="label"/>.</summary>
    internal void Release(string label, string value) => _caps.Release(label, value);

    /// <summary>The factory of the node's registry, for a feature's own families.</summary>
    internal MetricFactory Factory => _factory;

    /// <summary>A counter family with labels from outside, under the node's series cap and label expiry.</summary>
    internal BoundedFamily<Counter.Child> BoundedCounter(string name, string help, params string[] labels) =>
        BoundedCounter(name, help, Labels(labels));

    /// <summary>A gauge family with labels from outside, under the node's series cap and label expiry.</summary>
    internal BoundedFamily<Gauge.Child> BoundedGauge(string name, string help, params string[] labels) =>
        BoundedGauge(name, help, GaugeLabels(labels));

    /// <summary>A histogram family with labels from outside, under the node's series cap and label expiry.</summary>
    internal BoundedFamily<Histogram.Child> BoundedHistogram(string name, string help, double[] buckets, params string[] labels) =>
        Bounded(_factory.CreateHistogram(name, help, new HistogramConfiguration { LabelNames = labels, Buckets = buckets }),
            buckets.Length + 3);

    private BoundedFamily<Counter.Child> BoundedCounter(string name, string help, CounterConfiguration labels) =>
        Bounded(_factory.CreateCounter(name, help, labels));

    private BoundedFamily<Gauge.Child> BoundedGauge(string name, string help, GaugeConfiguration labels) =>
        Bounded(_factory.CreateGauge(name, help, labels));

    // A histogram's label set exports its buckets, +Inf, _sum and _count: seriesPerChild = buckets + 3.
    private BoundedFamily<TChild> Bounded<TChild>(Collector<TChild> family, int seriesPerChild = 1) where TChild : ChildBase =>
        _caps.Bound(family, seriesPerChild);

    private static CounterConfiguration Labels(params string[] names) => new() { LabelNames = names };

    private CounterConfiguration ByBroker(params string[] names) => new() { LabelNames = ByBrokerNames(names) };

    /// <summary>The label names of a family the Celery monitor writes: <paramref name="names"/>, then
    /// <see cref="BrokerLabel"/> when the node watches several brokers.</summary>
    internal string[] ByBrokerNames(params string[] names) => ByBrokerLabel ? [.. names, BrokerLabel] : names;

    private GaugeConfiguration GaugeBySource(string name) =>
        new() { LabelNames = [.. ByBrokerNames([name]), SeriesSource.Label] };

    private static GaugeConfiguration GaugeLabels(params string[] names) => new() { LabelNames = names };
}
