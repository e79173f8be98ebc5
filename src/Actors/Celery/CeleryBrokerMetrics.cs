using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// What the monitor of one Celery broker records, in its own words. When the node watches several brokers
/// (<c>CELERY_BROKERS</c>) every series it writes carries the broker's name in the <c>broker</c> label, so two
/// brokers' workers, queues and tasks of the same names never add up or overwrite each other; with one broker the
/// series are exactly those of <see cref="CeleryMonitorMetrics"/> and the shared ones of <see cref="CeleryMetrics"/>.
/// </summary>
public sealed class CeleryBrokerMetrics
{
    private readonly CeleryMetrics _metrics;
    private readonly CeleryMonitorMetrics _monitor;

    /// <summary>Creates the view of <paramref name="monitor"/> for one broker.</summary>
    /// <param name="monitor">The Celery monitor's metrics (with the node's).</param>
    /// <param name="broker">The broker's name when the node watches several; null for the one of
    /// <c>CELERY_BROKER_URL</c>.</param>
    public CeleryBrokerMetrics(CeleryMonitorMetrics monitor, string? broker)
    {
        _monitor = monitor;
        _metrics = monitor.Node;
        Broker = broker;
    }

    /// <summary>The broker's name, null when the node watches one broker.</summary>
    public string? Broker { get; }

    /// <summary>The bounded label value of a task name.</summary>
    public string TaskName(string name) => _metrics.Bounded("task_name", name);

    /// <summary>The bounded label value of a queue.</summary>
    public string Queue(string queue) => _metrics.Queue(queue);

    /// <summary>The bounded label value of a worker.</summary>
    public string Worker(string worker) => _metrics.Worker(worker);

    /// <summary>Counts one task event of a task name (bounded) on a queue (bounded). A task name seen sent or
    /// received on a queue for the first time gets its started and succeeded series at 0: <c>increase()</c> and
    /// <c>rate()</c> then see its first completion (a series born at 1 shows no increase). The failed series waits
    /// for its exception type, its third label.</summary>
    public void CountTaskEvent(CeleryTaskEventType type, string name, string queue, string? exception = null)
    {
        if (type == CeleryTaskEventType.Failed)
        {
            _metrics.TaskFailed.WithLabels(_metrics.Key(Broker, name, queue,
                _metrics.Bounded("exception", exception ?? LabelValues.Unknown))).Inc();
            return;
        }
        var key = _metrics.Key(Broker, name, queue);
        switch (type)
        {
            case CeleryTaskEventType.Sent: CountFirstSight(_monitor.TaskSent.WithLabels(key), key); break;
            case CeleryTaskEventType.Received: CountFirstSight(_monitor.TaskReceived.WithLabels(key), key); break;
            case CeleryTaskEventType.Started: _metrics.TaskStarted.WithLabels(key).Inc(); break;
            case CeleryTaskEventType.Succeeded: _metrics.TaskSucceeded.WithLabels(key).Inc(); break;
            case CeleryTaskEventType.Retried: _monitor.TaskRetried.WithLabels(key).Inc(); break;
            case CeleryTaskEventType.Revoked: _monitor.TaskRevoked.WithLabels(key).Inc(); break;
            case CeleryTaskEventType.Rejected: _monitor.TaskRejected.WithLabels(key).Inc(); break;
        }
    }

    // A series still at 0 is seen for the first time (or again after its label expired): only then do the started
    // and succeeded series need making, which spares two lookups on every other sent or received event.
    private void CountFirstSight(Prometheus.Counter.Child series, string[] key)
    {
        if (series.Value == 0)
        {
            _metrics.TaskStarted.WithLabels(key);
            _metrics.TaskSucceeded.WithLabels(key);
        }
        series.Inc();
    }

    /// <summary>Counts a task event whose name or queue the node did not remember.</summary>
    public void CountTaskMemoryMiss() => _metrics.Of(_monitor.TaskMemoryMisses, Broker).Inc();

    /// <summary>Counts a restored subscription to the broker's events.</summary>
    public void CountResubscription() => _metrics.Of(_monitor.BrokerResubscriptions, Broker).Inc();

    /// <summary>Counts a rejected event message.</summary>
    public void CountRejection(RejectionReason reason) => _metrics.CountRejection(ChannelKind.CeleryEvents, reason, Broker);

    /// <summary>Counts task events a worker's heartbeats show were lost.</summary>
    public void CountLostEvents(string worker, long count) =>
        _monitor.EventsLost.WithLabels(_metrics.Key(Broker, Worker(worker))).Inc(count);

    /// <summary>Counts a remote-control method an online worker did not answer.</summary>
    public void CountMissingReply(string method) =>
        _monitor.RemoteControlMissingReplies.WithLabels(_metrics.Key(Broker, method)).Inc();

    /// <summary>Shows a worker (its bounded label) online.</summary>
    public void WorkerOnline(string label) => _metrics.WorkerUp.WithLabels(Sourced(label)).Set(1);

    /// <summary>Shows a worker (its bounded label) offline, running and holding nothing.</summary>
    public void WorkerOffline(string label)
    {
        var key = Sourced(label);
        _metrics.WorkerUp.WithLabels(key).Set(0);
        _metrics.WorkerActiveTasks.WithLabels(key).Set(0);
        _metrics.WorkerReservedTasks.WithLabels(key).Set(0);
    }

    /// <summary>Sets what remote control told of a worker (its bounded label); an unanswered figure stays as it was.</summary>
    public void WorkerInspected(string label, int? poolSize, int? active, int? reserved)
    {
        var key = Sourced(label);
        if (poolSize is { } pool) _metrics.WorkerPoolSize.WithLabels(key).Set(pool);
        if (active is { } a) _metrics.WorkerActiveTasks.WithLabels(key).Set(a);
        if (reserved is { } r) _metrics.WorkerReservedTasks.WithLabels(key).Set(r);
    }

    /// <summary>Removes every series of a worker of this broker and frees its label slot.</summary>
    public void RemoveWorker(string worker) => _monitor.RemoveWorker(worker, Broker);

    /// <summary>Sets a queue's (bounded label) length and the age of its oldest task.</summary>
    public void SetQueue(string label, long length, double oldestAgeSeconds)
    {
        _metrics.QueueLength.WithLabels(Sourced(label)).Set(length);
        _monitor.QueueOldestTaskAge.WithLabels(_metrics.Key(Broker, label)).Set(oldestAgeSeconds);
    }

    /// <summary>Sets how many workers consume a queue (bounded label).</summary>
    public void SetQueueConsumers(string label, int consumers) =>
        _metrics.QueueConsumers.WithLabels(Sourced(label)).Set(consumers);

    /// <summary>Sets the length of one priority sub-list of a queue (bounded label).</summary>
    public void SetQueuePriority(string label, string priority, long length) =>
        _monitor.QueueLengthByPriority.WithLabels(_metrics.Key(Broker, label, priority)).Set(length);

    /// <summary>Sets a queue's (bounded label) messages taken and not acknowledged.</summary>
    public void SetQueueUnacked(string label, long unacked) =>
        _monitor.QueueUnacked.WithLabels(_metrics.Key(Broker, label)).Set(unacked);

    /// <summary>Removes a queue's series (the monitor stops on this node).</summary>
    public void RemoveQueue(string label, IEnumerable<string> priorities)
    {
        var key = _metrics.Key(Broker, label);
        foreach (var gauge in new[] { _monitor.QueueOldestTaskAge, _monitor.QueueUnacked }) gauge.RemoveLabelled(key);
        var sourced = Sourced(label);
        foreach (var gauge in new[] { _metrics.QueueLength, _metrics.QueueConsumers }) gauge.RemoveLabelled(sourced);
        foreach (var priority in priorities) _monitor.QueueLengthByPriority.RemoveLabelled(_metrics.Key(Broker, label, priority));
    }

    // The worker and queue gauges the allocator writes too carry the source label.
    private string[] Sourced(string label) => _metrics.SourcedKey(SeriesSource.Celery, Broker, label);

    /// <summary>Shows whether the last read of the broker's queues succeeded.</summary>
    public void SetBrokerUp(bool up) => _metrics.Of(_monitor.BrokerUp, Broker).Set(up ? 1 : 0);

    /// <summary>Stops exporting <c>celery_broker_up</c> (the watcher stops on this node).</summary>
    public void UnpublishBrokerUp() => _monitor.UnpublishBrokerUp(Broker);
}
