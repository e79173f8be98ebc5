using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using Prometheus;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// The node's metric families (SPEC §3 and the project's own) on one registry per node: the shared ones, the
/// Celery monitor's (written through <c>CeleryBrokerMetrics</c>), and the label caps, series caps and label expiry
/// that the allocator's own families (<c>AllocatorMetrics</c>) use too. Names, types and labels are a contract
/// that dashboards and alerts depend on. Label values from outside pass through a
/// <see cref="LabelLimiter"/> per label. Counters and gauges are thread-safe; histogram observations go through
/// the <see cref="ObservationPipeline"/> instead of being recorded here on the hot path.
/// </summary>
public sealed class CeleryMetrics
{
    private static readonly double[] DurationBuckets =
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>The buckets of the latency histograms (seconds).</summary>
    internal static readonly double[] LatencyBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>The default of <c>METRICS_MAX_SERIES</c>: series per family.</summary>
    public const int DefaultMaxSeries = 10_000;

    private readonly Dictionary<string, LabelLimiter> _limiters = new(StringComparer.Ordinal);
    private readonly List<IBoundedFamily> _bounded = [];
    private readonly MetricFactory _factory;
    private readonly int _maxSeries;

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
        _maxSeries = maxSeries;
        var factory = _factory;

        LabelOverflows = factory.CreateCounter("celery_label_values_overflowed_total",
            "Label values folded into the overflow value because the label reached its cap.",
            Labels("label"));
        SeriesOverflows = factory.CreateCounter("celery_metric_series_overflowed_total",
            "Observations recorded in a family's overflow series because the family reached its series cap.",
            Labels("metric"));
        SeriesCount = factory.CreateGauge("celery_metric_series",
            "Series a metric family whose labels come from outside holds now (its cap is METRICS_MAX_SERIES).",
            GaugeLabels("metric"));
        foreach (var label in new[] { "task_name", "queue", "exception", "worker", "channel", "message_type" })
            _limiters[label] = new LabelLimiter(label, maxLabelValues, l => LabelOverflows.WithLabels(l).Inc(), clock);

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

        QueueLengthByPriority = BoundedGauge("celery_queue_length_by_priority",
            "Tasks waiting in a Celery queue, by priority sub-list.", GaugeByBroker("queue", "priority"));
        QueueOldestTaskAge = BoundedGauge("celery_queue_oldest_task_age_seconds",
            "How long the next task of a Celery queue has been waiting, as seen by the node (a lower bound).",
            GaugeByBroker("queue"));
        QueueUnacked = BoundedGauge("celery_queue_unacked",
            "Messages of a Celery queue taken by a worker and not acknowledged yet (the broker's unacked set).",
            GaugeByBroker("queue"));
        TaskRetried = BoundedCounter("celery_task_retried_total", "Celery tasks retried.",
            ByBroker("task_name", "queue"));
        TaskSent = BoundedCounter("celery_task_sent_total", "Celery tasks sent by producers (task-sent events).",
            ByBroker("task_name", "queue"));
        TaskReceived = BoundedCounter("celery_task_received_total", "Celery tasks received by workers (task-received).",
            ByBroker("task_name", "queue"));
        TaskRevoked = BoundedCounter("celery_task_revoked_total", "Celery tasks revoked (task-revoked).",
            ByBroker("task_name", "queue"));
        TaskRejected = BoundedCounter("celery_task_rejected_total", "Celery task messages a worker rejected (task-rejected).",
            ByBroker("task_name", "queue"));
        TaskQueueWait = Bounded(factory.CreateHistogram("celery_task_queue_wait_seconds",
            "How long a Celery task waited in its queue: task-sent (else task-received) to task-started, less its ETA delay.",
            new HistogramConfiguration { LabelNames = ByBrokerNames(["task_name", "queue"]), Buckets = DurationBuckets }), DurationBuckets.Length + 3);
        EventsLost = BoundedCounter("celery_events_lost_total",
            "Task events a worker's heartbeats show were sent but never reached the node (detected gaps).",
            ByBroker("worker"));
        TaskMemoryMisses = factory.CreateCounter("celery_task_memory_misses_total",
            "Task events whose task name or queue the node did not remember.", ByBroker());
        BrokerResubscriptions = factory.CreateCounter("celery_broker_resubscriptions_total",
            "Times the subscription to Celery's event channels was re-established after a lost connection.", ByBroker());
        // No value until the watcher has read once: a node that watches no broker exports no 0 to alert on.
        BrokerUp = factory.CreateGauge("celery_broker_up",
            "1 while the node that watches the Celery broker's queues last read them, 0 once a read failed.",
            new GaugeConfiguration { SuppressInitialValue = true, LabelNames = ByBrokerNames([]) });
        RemoteControlMissingReplies = factory.CreateCounter("celery_remote_control_missing_replies_total",
            "Remote-control requests an online worker did not answer in time, by method.", ByBroker("method"));

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

    /// <summary>Stops exporting <c>celery_broker_up</c> of <paramref name="broker"/> (its watcher stopped here).</summary>
    public void UnpublishBrokerUp(string? broker)
    {
        if (ByBrokerLabel) BrokerUp.RemoveLabelled(broker ?? "");
        else BrokerUp.Unpublish();
    }

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
    public Counter LabelOverflows { get; }

    /// <summary><c>celery_metric_series_overflowed_total{metric}</c>.</summary>
    public Counter SeriesOverflows { get; }

    /// <summary><c>celery_metric_series{metric}</c>, set before each collection.</summary>
    public Gauge SeriesCount { get; }

    /// <summary><c>celery_queue_length_by_priority{queue, priority}</c>.</summary>
    public BoundedFamily<Gauge.Child> QueueLengthByPriority { get; }

    /// <summary><c>celery_queue_oldest_task_age_seconds{queue}</c>.</summary>
    public BoundedFamily<Gauge.Child> QueueOldestTaskAge { get; }

    /// <summary><c>celery_queue_unacked{queue}</c>.</summary>
    public BoundedFamily<Gauge.Child> QueueUnacked { get; }

    /// <summary><c>celery_task_retried_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskRetried { get; }

    /// <summary><c>celery_task_sent_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskSent { get; }

    /// <summary><c>celery_task_received_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskReceived { get; }

    /// <summary><c>celery_task_revoked_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskRevoked { get; }

    /// <summary><c>celery_task_rejected_total{task_name, queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskRejected { get; }

    /// <summary><c>celery_task_queue_wait_seconds{task_name, queue}</c>.</summary>
    public BoundedFamily<Histogram.Child> TaskQueueWait { get; }

    /// <summary><c>celery_events_lost_total{worker}</c>.</summary>
    public BoundedFamily<Counter.Child> EventsLost { get; }

    /// <summary><c>celery_task_memory_misses_total</c>.</summary>
    public Counter TaskMemoryMisses { get; }

    /// <summary><c>celery_broker_up</c>, exported by the node that runs the queue watcher.</summary>
    public Gauge BrokerUp { get; }

    /// <summary><c>celery_broker_resubscriptions_total</c>.</summary>
    public Counter BrokerResubscriptions { get; }

    /// <summary><c>celery_remote_control_missing_replies_total{method}</c>.</summary>
    public Counter RemoteControlMissingReplies { get; }

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

    /// <summary>
    /// Removes every series of a Celery worker (offline long enough), so dashboards show no ghosts, and frees its
    /// slot under the label cap. An allocator worker of the same name keeps its series.
    /// </summary>
    public void RemoveWorker(string worker, string? broker = null)
    {
        if (worker == LabelLimiter.OverflowValue) return;
        var sourced = SourcedKey(SeriesSource.Celery, broker, worker);
        foreach (var gauge in new[] { WorkerUp, WorkerActiveTasks, WorkerPoolSize, WorkerReservedTasks })
            gauge.RemoveLabelled(sourced);
        EventsLost.RemoveLabelled(Key(broker, worker));
        _limiters["worker"].Release(worker);
    }

    /// <summary>Passes <paramref name="value"/> through the cap of <paramref name="label"/>.</summary>
    public string Bounded(string label, string value) => _limiters[label].Admit(value);

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

    /// <summary>The queue-wait series of a Celery task name on a queue (both bounded already).</summary>
    public Histogram.Child QueueWaitSeries(string taskName, string queue, string? broker = null) =>
        TaskQueueWait.WithLabels(Key(broker, taskName, queue));

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

    /// <summary>
    /// Frees every label value not seen for <paramref name="idleFor"/> and removes the series that carry one, in
    /// every family: after a flood of junk names the real ones get their slots back.
    /// </summary>
    /// <returns>How many label values were freed and how many series removed.</returns>
    public (int Values, int Series) ExpireIdleLabels(TimeSpan idleFor)
    {
        var freed = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var values = 0;
        foreach (var limiter in _limiters.Values)
        {
            var idle = limiter.TakeIdle(idleFor);
            if (idle.Count == 0) continue;
            freed[limiter.Label] = new HashSet<string>(idle, StringComparer.Ordinal);
            values += idle.Count;
        }
        var series = 0;
        foreach (var family in _bounded)
            foreach (var (label, set) in freed)
                series += family.RemoveWhere(label, set);
        return (values, series);
    }

    /// <summary>Sets <c>celery_metric_series</c> from the families' own counts.</summary>
    public void UpdateSeriesCounts()
    {
        foreach (var family in _bounded) SeriesCount.WithLabels(family.Name).Set(family.Count);
    }

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
    private BoundedFamily<TChild> Bounded<TChild>(Collector<TChild> family, int seriesPerChild = 1) where TChild : ChildBase
    {
        var bounded = new BoundedFamily<TChild>(family, _maxSeries, f => SeriesOverflows.WithLabels(f).Inc(), seriesPerChild);
        _bounded.Add(bounded);
        return bounded;
    }

    private static CounterConfiguration Labels(params string[] names) => new() { LabelNames = names };

    private CounterConfiguration ByBroker(params string[] names) => new() { LabelNames = ByBrokerNames(names) };

    private GaugeConfiguration GaugeByBroker(params string[] names) => new() { LabelNames = ByBrokerNames(names) };

    private string[] ByBrokerNames(string[] names) => ByBrokerLabel ? [.. names, BrokerLabel] : names;

    private GaugeConfiguration GaugeBySource(string name) =>
        new() { LabelNames = [.. ByBrokerNames([name]), SeriesSource.Label] };

    private static GaugeConfiguration GaugeLabels(params string[] names) => new() { LabelNames = names };
}
