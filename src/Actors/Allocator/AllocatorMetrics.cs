using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using Prometheus;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The allocator's metrics: the families only the allocator writes, and its writes to the families it shares with
/// the Celery monitor (the worker and queue gauges always under <c>source="allocator"</c>). One per node, made at
/// start-up on the node's <see cref="CeleryMetrics"/>, whose registry, label caps and series caps it uses, so its
/// families are exported before the first task arrives.
/// </summary>
public sealed class AllocatorMetrics
{
    private readonly CeleryMetrics _node;

    /// <summary>Creates the allocator's families on the node's registry.</summary>
    /// <param name="node">The node's metrics.</param>
    public AllocatorMetrics(CeleryMetrics node)
    {
        _node = node;
        TaskAllocations = node.BoundedCounter("celery_task_allocation_total", "Tasks allocated to workers.",
            "queue", "worker");
        TaskAllocationDuration = node.BoundedHistogram("celery_task_allocation_duration_seconds",
            "Time from a task's arrival to its allocation in seconds.", CeleryMetrics.LatencyBuckets, "queue");
        TaskRequeued = node.BoundedCounter("celery_task_requeued_total",
            "Allocated tasks returned to their queue (ack timeout, worker offline or gone).", "queue");
        StreamLength = node.BoundedGauge("celery_task_stream_length",
            "Entries in an allocator queue's task stream (the durable intake) not acknowledged yet: waiting to be read, " +
            "or read and not stored yet.", "queue");
        TaskDuplicates = node.BoundedCounter("celery_task_duplicates_total",
            "Task publications ignored because their task id was pending, allocated or finished.", "queue");
        JournalWrite = node.Factory.CreateHistogram("celery_journal_write_seconds",
            "Time an allocator queue's journal write took, from sending it to its being stored, in seconds (one entry " +
            "of the group commit; an allocation is published only after it).",
            new HistogramConfiguration { Buckets = CeleryMetrics.LatencyBuckets });
        TaskReportsIgnored = node.Factory.CreateCounter("celery_task_reports_ignored_total",
            "Allocator task-status reports that changed nothing, by reason (not_holder: the worker never held the " +
            "task; already_finished: the task had succeeded or failed; unknown_task: nobody knows the task).",
            new CounterConfiguration { LabelNames = ["reason"] });
    }

    /// <summary><c>celery_journal_write_seconds</c>: node-wide, since what it tells (Redis and the node keeping up)
    /// is not a queue's own.</summary>
    public Histogram JournalWrite { get; }

    /// <summary><c>celery_task_allocation_total{queue, worker}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskAllocations { get; }

    /// <summary><c>celery_task_allocation_duration_seconds{queue}</c>.</summary>
    public BoundedFamily<Histogram.Child> TaskAllocationDuration { get; }

    /// <summary><c>celery_task_requeued_total{queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskRequeued { get; }

    /// <summary><c>celery_task_stream_length{queue}</c>, set by every node once a second.</summary>
    public BoundedFamily<Gauge.Child> StreamLength { get; }

    /// <summary><c>celery_task_duplicates_total{queue}</c>.</summary>
    public BoundedFamily<Counter.Child> TaskDuplicates { get; }

    /// <summary><c>celery_task_reports_ignored_total{reason}</c>: the reasons are the constants of
    /// <see cref="IgnoredReport"/>, a fixed set.</summary>
    public Counter TaskReportsIgnored { get; }

    /// <summary>Counts one allocation of a task of <paramref name="queue"/> to <paramref name="worker"/>.</summary>
    public void CountAllocation(string queue, string worker) =>
        TaskAllocations.WithLabels(_node.Queue(queue), _node.Worker(worker)).Inc();

    /// <summary>The allocation-duration series of a queue.</summary>
    public Histogram.Child AllocationDurationSeries(string queue) => TaskAllocationDuration.WithLabels(_node.Queue(queue));

    /// <summary>Counts one task of <paramref name="queue"/> returned to it.</summary>
    public void CountRequeue(string queue) => TaskRequeued.WithLabels(_node.Queue(queue)).Inc();

    /// <summary>Counts one publication of <paramref name="queue"/> ignored as a duplicate.</summary>
    public void CountDuplicate(string queue) => TaskDuplicates.WithLabels(_node.Queue(queue)).Inc();

    /// <summary>Counts one report that changed nothing (<see cref="IgnoredReport"/>).</summary>
    public void CountIgnoredReport(string reason) => TaskReportsIgnored.WithLabels(reason).Inc();

    /// <summary>Observes one journal write of a queue.</summary>
    public void ObserveJournalWrite(TimeSpan took) => JournalWrite.Observe(took.TotalSeconds);

    /// <summary>Sets the unacknowledged entries of a queue's task stream.</summary>
    public void SetStreamLength(string queue, long length) => StreamLength.WithLabels(_node.Queue(queue)).Set(length);

    /// <summary>Removes a queue's stream-length series (this node stops reading the streams).</summary>
    public void RemoveStreamLength(string queue) => StreamLength.RemoveLabelled(_node.Queue(queue));

    /// <summary>Counts a task start, success or failure reported by an allocator worker.</summary>
    public void CountTaskProgress(string taskName, string queue, TaskProgress progress, string? exception) =>
        _node.CountTaskProgress(taskName, queue, progress, exception);

    /// <summary>Counts one rejected inbound message.</summary>
    public void CountRejection(ChannelKind kind, RejectionReason reason) => _node.CountRejection(kind, reason);

    /// <summary>Counts one handled pub/sub message.</summary>
    public void CountPubSubMessage(string channel, string messageType) => _node.CountPubSubMessage(channel, messageType);

    /// <summary>Sets a queue's waiting tasks and consumers.</summary>
    public void SetQueue(string queue, int pending, int consumers)
    {
        var q = Sourced(_node.Queue(queue));
        _node.QueueLength.WithLabels(q).Set(pending);
        _node.QueueConsumers.WithLabels(q).Set(consumers);
    }

    /// <summary>Sets a worker's gauges: <paramref name="active"/> tasks it started and has not finished,
    /// <paramref name="reserved"/> tasks allocated to it and not started yet.</summary>
    public void SetWorker(string worker, bool online, int poolSize, int active, int reserved)
    {
        var w = Sourced(_node.Worker(worker));
        _node.WorkerUp.WithLabels(w).Set(online ? 1 : 0);
        _node.WorkerPoolSize.WithLabels(w).Set(poolSize);
        _node.WorkerActiveTasks.WithLabels(w).Set(active);
        _node.WorkerReservedTasks.WithLabels(w).Set(reserved);
    }

    /// <summary>Removes a queue's gauges: its entity stopped here (it moved to another node, which shows them now;
    /// a stale copy here would win every <c>max by (queue)</c>).</summary>
    public void RemoveQueue(string queue)
    {
        var q = _node.Queue(queue);
        if (q == LabelLimiter.OverflowValue) return;
        var key = Sourced(q);
        _node.QueueLength.RemoveLabelled(key);
        _node.QueueConsumers.RemoveLabelled(key);
    }

    /// <summary>Removes a worker's gauges, for the same reason.</summary>
    public void RemoveWorker(string worker)
    {
        var w = _node.Worker(worker);
        if (w == LabelLimiter.OverflowValue) return;
        var key = Sourced(w);
        foreach (var gauge in new[] { _node.WorkerUp, _node.WorkerActiveTasks, _node.WorkerPoolSize, _node.WorkerReservedTasks })
            gauge.RemoveLabelled(key);
    }

    private string[] Sourced(string label) => _node.SourcedKey(SeriesSource.Allocator, null, label);
}
