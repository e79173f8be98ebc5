using CeleryActors.Actors.Metrics;
using Prometheus;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// The Celery monitor's own metric families, on the node's registry and under its label and series caps: what only a
/// Celery broker tells (sent, received, retried, revoked and rejected tasks, queue wait, priority sub-lists, unacked
/// messages, lost events, the broker's health and remote control). The node makes it at start-up, so the families are
/// exported before the first event; the monitor of each broker writes through its <see cref="CeleryBrokerMetrics"/>.
/// What both features write (task outcomes and durations, worker and queue gauges) stays in
/// <see cref="CeleryMetrics"/>.
/// </summary>
public sealed class CeleryMonitorMetrics
{
    /// <summary>Creates the families on the registry of <paramref name="node"/>.</summary>
    public CeleryMonitorMetrics(CeleryMetrics node)
    {
        Node = node;
        string[] Names(params string[] labels) => node.ByBrokerNames(labels);

        QueueLengthByPriority = node.BoundedGauge("celery_queue_length_by_priority",
            "Tasks waiting in a Celery queue, by priority sub-list.", Names("queue", "priority"));
        QueueOldestTaskAge = node.BoundedGauge("celery_queue_oldest_task_age_seconds",
            "How long the next task of a Celery queue has been waiting, as seen by the node (a lower bound).",
            Names("queue"));
        QueueUnacked = node.BoundedGauge("celery_queue_unacked",
            "Messages of a Celery queue taken by a worker and not acknowledged yet (the broker's unacked set).",
            Names("queue"));
        TaskRetried = node.BoundedCounter("celery_task_retried_total", "Celery tasks retried.", Names("task_name", "queue"));
        TaskSent = node.BoundedCounter("celery_task_sent_total", "Celery tasks sent by producers (task-sent events).",
            Names("task_name", "queue"));
        TaskReceived = node.BoundedCounter("celery_task_received_total",
            "Celery tasks received by workers (task-received).", Names("task_name", "queue"));
        TaskRevoked = node.BoundedCounter("celery_task_revoked_total", "Celery tasks revoked (task-revoked).",
            Names("task_name", "queue"));
        TaskRejected = node.BoundedCounter("celery_task_rejected_total",
            "Celery task messages a worker rejected (task-rejected).", Names("task_name", "queue"));
        TaskQueueWait = node.BoundedHistogram("celery_task_queue_wait_seconds",
            "How long a Celery task waited in its queue: task-sent (else task-received) to task-started, less its ETA delay.",
            CeleryMetrics.DurationBuckets, Names("task_name", "queue"));
        EventsLost = node.BoundedCounter("celery_events_lost_total",
            "Task events a worker's heartbeats show were sent but never reached the node (detected gaps).",
            Names("worker"));
        var factory = node.Factory;
        TaskMemoryMisses = factory.CreateCounter("celery_task_memory_misses_total",
            "Task events whose task name or queue the node did not remember.", Names());
        BrokerResubscriptions = factory.CreateCounter("celery_broker_resubscriptions_total",
            "Times the subscription to Celery's event channels was re-established after a lost connection.", Names());
        // No value until the watcher has read once: a node that watches no broker exports no 0 to alert on.
        BrokerUp = factory.CreateGauge("celery_broker_up",
            "1 while the node that watches the Celery broker's queues last read them, 0 once a read failed.",
            new GaugeConfiguration { SuppressInitialValue = true, LabelNames = Names() });
        RemoteControlMissingReplies = factory.CreateCounter("celery_remote_control_missing_replies_total",
            "Remote-control requests an online worker did not answer in time, by method.", Names("method"));
    }

    /// <summary>The node's metrics: the shared families, the caps and the label keys.</summary>
    public CeleryMetrics Node { get; }

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

    /// <summary>The queue-wait series of a Celery task name on a queue (both bounded already).</summary>
    public Histogram.Child QueueWaitSeries(string taskName, string queue, string? broker = null) =>
        TaskQueueWait.WithLabels(Node.Key(broker, taskName, queue));

    /// <summary>Stops exporting <c>celery_broker_up</c> of <paramref name="broker"/> (its watcher stopped here).</summary>
    public void UnpublishBrokerUp(string? broker)
    {
        if (Node.ByBrokerLabel) BrokerUp.RemoveLabelled(broker ?? "");
        else BrokerUp.Unpublish();
    }

    /// <summary>
    /// Removes every series of a Celery worker (offline long enough), so dashboards show no ghosts, and frees its
    /// slot under the label cap. An allocator worker of the same name keeps its series.
    /// </summary>
    public void RemoveWorker(string worker, string? broker = null)
    {
        if (worker == LabelLimiter.OverflowValue) return;
        var sourced = Node.SourcedKey(SeriesSource.Celery, broker, worker);
        foreach (var gauge in new[] { Node.WorkerUp, Node.WorkerActiveTasks, Node.WorkerPoolSize, Node.WorkerReservedTasks })
            gauge.RemoveLabelled(sourced);
        EventsLost.RemoveLabelled(Node.Key(broker, worker));
        Node.Release("worker", worker);
    }
}
