using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// Subscribes to Celery's event channels on the broker and turns task and worker events into metrics: tasks
/// started, succeeded, failed (by exception type), retried, their run time; workers up and down (heartbeats,
/// <c>worker-offline</c>, and silence past the worker timeout). Task names and queues that an event lacks come
/// from a bounded <see cref="TaskMemory"/> fed by <c>task-sent</c>, <c>task-received</c> and remote control; the
/// events of a task whose queue is not known yet wait a moment for its late <c>task-sent</c> (<see cref="HeldTaskEvents"/>).
/// Workers, their liveness and the lost-events check are in <see cref="CeleryWorkerBook"/>. Its states are those of every intake (<see cref="PubSubIngressActor"/>):
/// a restored subscription is counted, and workers' silence is judged only while listening.
/// </summary>
public sealed class CeleryEventsActor : PubSubIngressActor, IWithTimers
{
    private const string SweepTimer = "sweep";
    private readonly CeleryMonitorSettings _settings;
    private readonly CeleryBrokerMetrics _metrics;
    private readonly IActorRef _queueWatcher;
    private readonly LogThrottle _lostEventsLog = new();
    private readonly TaskMemory _tasks;
    private readonly CeleryWorkerBook _workers;
    private readonly HashSet<string> _knownQueues = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly HeldTaskEvents _held = new(HeldTaskEvents.MaxTasks);
    private readonly RoutingKeys _routingKeys = new();

    /// <summary>Creates the actor.</summary>
    /// <param name="settings">Monitoring settings.</param>
    /// <param name="metrics">The broker's view of the node's metrics.</param>
    /// <param name="queueWatcher">Told of queues seen in events.</param>
    /// <param name="recorder">The metrics recorder: counts each pub/sub message and observes its latency.</param>
    public CeleryEventsActor(CeleryMonitorSettings settings, CeleryBrokerMetrics metrics, IActorRef queueWatcher,
        IActorRef recorder)
        : base(new PubSubBudget(PubSubMessagesDropped.Celery, Math.Min(settings.MaxBufferedBytes, FlowControlledFeed.WindowBytes),
            settings.BrokerName), settings.MaxPayloadBytes, recorder)
    {
        _settings = settings;
        _metrics = metrics;
        _queueWatcher = queueWatcher;
        _tasks = new TaskMemory(settings.TaskMemorySize, settings.TaskMemoryAge);
        _workers = new CeleryWorkerBook(settings.WorkerTimeout, settings.OfflineSeriesTtl);
        Subscribing();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the actor.</summary>
    public static Props Props(CeleryMonitorSettings settings, CeleryBrokerMetrics metrics, IActorRef queueWatcher,
        IActorRef recorder) =>
        Akka.Actor.Props.Create(() => new CeleryEventsActor(settings, metrics, queueWatcher, recorder));

    /// <inheritdoc />
    protected override string Subscription => "Celery events on " + _settings.Describe();

    // Flow-controlled: a burst beyond the budget waits in Redis instead of being dropped here.
    /// <inheritdoc />
    protected override IEnumerable<IDisposable> StartFeeds() =>
        [FlowControlledFeed.Start(_settings.Broker, _settings.EventsPattern, Self, Budget)];

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        Timers.StartPeriodicTimer(SweepTimer, Sweep.Instance, TimeSpan.FromSeconds(1));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        base.PostStop();
        // Another node may take over the monitor; this node must not keep showing workers it no longer watches.
        foreach (var worker in _workers.Workers) _metrics.RemoveWorker(worker);
    }

    private double Now => _clock.Elapsed.TotalSeconds;

    /// <inheritdoc />
    protected override void Resubscribed()
    {
        _metrics.CountResubscription();
        // The outage was ours, not the workers': their silence is timed from now.
        _workers.Resubscribed(Now);
    }

    // Silence is judged only while listening: with the broker connection down, every worker would look silent.
    /// <inheritdoc />
    protected override void WhileListening() =>
        Receive<Sweep>(_ =>
        {
            ReleaseHeldEvents();
            SweepWorkers();
        });

    /// <inheritdoc />
    protected override void EveryState()
    {
        Receive<CeleryWorkerInspected>(Handle);
        Receive<Sweep>(_ => { });
    }

    /// <inheritdoc />
    protected override void TooLarge(PubSubFeed.Message message, string detail)
    {
        Reject(message.Channel, RejectionReason.TooLarge, detail);
        Recorder.Tell(new PubSubMessageHandled(message.Channel, RedisSubscriptionActor.RejectedMessageType, null,
            _metrics.Broker));
    }

    /// <inheritdoc />
    protected override void Take(PubSubFeed.Message message)
    {
        var routingKey = _routingKeys.Of(message.Channel);
        var batch = CeleryEventParser.Parse(message.Payload.Span);
        foreach (var (reason, detail) in batch.Rejections) Reject(message.Channel, reason, detail);
        var accepted = batch.Events.Count > 0 || batch.Rejections.Count == 0;
        Recorder.Tell(new PubSubMessageHandled(message.Channel,
            accepted ? routingKey : RedisSubscriptionActor.RejectedMessageType, CeleryEventTimes.Latency(batch), _metrics.Broker));
        foreach (var e in batch.Events)
        {
            switch (e)
            {
                case CeleryTaskEvent task: Arrive(task); break;
                case CeleryWorkerEvent worker: Apply(worker); break;
            }
        }
    }

    private void Arrive(CeleryTaskEvent e)
    {
        var now = Now;
        if (e.Type == CeleryTaskEventType.Sent)
        {
            var released = _held.Release(e.TaskId);
            // Stamped after the worker had the task: it was queued by its first event here at the latest (the
            // wait counts from task-received, as when no task-sent comes).
            Apply(released.Count > 0 && released[0].Timestamp < e.Timestamp ? e with { Timestamp = released[0].Timestamp } : e, now);
            foreach (var held in released) Apply(held, now);
            return;
        }
        Seen(e.Hostname, now);
        // Counted on arrival: the lost-events check must not take a start held back here for a missing one.
        if (e.Type == CeleryTaskEventType.Started) _workers.Started(e.Hostname);
        // One lookup serves the decision to hold and the count.
        var recalled = _tasks.Recall(e.TaskId, now);
        var hold = _held.Holds(e.TaskId) || (_held.SentEventsCome && QueueUnknown(e, recalled));
        if (!hold || !_held.TryHold(e, now)) Apply(e, now, recalled);
    }

    private bool QueueUnknown(CeleryTaskEvent e, RememberedTask? remembered) =>
        e.Queue is null && remembered?.Queue is null && _workers.OnlyQueueOf(e.Hostname) is null;

    // Sent and received remember the task; every other event looks up what they remembered.
    private static bool Recalls(CeleryTaskEvent e) => e.Type is not (CeleryTaskEventType.Sent or CeleryTaskEventType.Received);

    private void ReleaseHeldEvents()
    {
        var now = Now;
        foreach (var held in _held.ReleaseHeldBefore(now - HeldTaskEvents.HoldFor.TotalSeconds)) Apply(held, now);
    }

    private void Apply(CeleryTaskEvent e, double now) => Apply(e, now, Recalls(e) ? _tasks.Recall(e.TaskId, now) : null);

    private void Apply(CeleryTaskEvent e, double now, RememberedTask? recalled)
    {
        RememberedTask? remembered;
        switch (e.Type)
        {
            case CeleryTaskEventType.Sent:
                remembered = _tasks.Remember(e.TaskId, e.Name, e.Queue, now, e.Timestamp, e.Eta);
                if (e.Queue is not null) Discovered(e.Queue);
                break;
            case CeleryTaskEventType.Received:
                remembered = _tasks.Remember(e.TaskId, e.Name, null, now, e.Timestamp, e.Eta);
                break;
            default:
                remembered = recalled;
                break;
        }
        var (name, queue) = Labels(e, remembered);
        _metrics.CountTaskEvent(e.Type, name, queue, e.Exception);
        switch (e.Type)
        {
            case CeleryTaskEventType.Started:
                if (CeleryEventTimes.QueueWait(e, remembered) is { } wait)
                    Recorder.Tell(new ObserveQueueWait(name, queue, wait, _metrics.Broker));
                if (remembered?.QueuedAt is not null) _tasks.Started(e.TaskId);
                break;
            case CeleryTaskEventType.Succeeded or CeleryTaskEventType.Failed:
                if (e.Runtime is { } runtime) Recorder.Tell(new ObserveTaskDuration(name, queue, runtime, _metrics.Broker));
                _tasks.Forget(e.TaskId);
                break;
            case CeleryTaskEventType.Revoked or CeleryTaskEventType.Rejected:
                _tasks.Forget(e.TaskId);
                break;
        }
    }

    private (string Name, string Queue) Labels(CeleryTaskEvent e, RememberedTask? remembered)
    {
        var name = e.Name ?? remembered?.Name;
        var queue = e.Queue ?? remembered?.Queue ?? _workers.OnlyQueueOf(e.Hostname);
        if (name is null || queue is null) _metrics.CountTaskMemoryMiss();
        return (_metrics.TaskName(name ?? LabelValues.Unknown), _metrics.Queue(queue ?? LabelValues.Unknown));
    }

    private void Apply(CeleryWorkerEvent e)
    {
        var now = Now;
        switch (e.Type)
        {
            case CeleryWorkerEventType.Online:
                Seen(e.Hostname, now);
                break;
            case CeleryWorkerEventType.Heartbeat:
                Seen(e.Hostname, now);
                if (e.Processed is { } processed && _workers.Heartbeat(e.Hostname, processed) is var lost and > 0)
                {
                    _metrics.CountLostEvents(e.Hostname, lost);
                    if (_lostEventsLog.TryAcquire(out var unlogged))
                        Log.Warning("Worker {0} started {1} more tasks than the node saw task-started events for: events " +
                                    "were lost{2}", e.Hostname, lost, unlogged > 0 ? $" ({unlogged} such reports not logged)" : "");
                }
                break;
            case CeleryWorkerEventType.Offline:
                if (_workers.WentOffline(e.Hostname, now))
                {
                    Log.Info("Celery worker {0} went offline", e.Hostname);
                    _metrics.WorkerOffline(_metrics.Worker(e.Hostname));
                }
                break;
        }
    }

    private void Handle(CeleryWorkerInspected inspected)
    {
        var now = Now;
        foreach (var (taskId, queue) in inspected.TaskQueues) _tasks.Remember(taskId, null, queue, now);
        if (inspected.Queues is { } queues)
        {
            _workers.Inspected(inspected.Worker, queues);
            foreach (var queue in queues) Discovered(queue);
        }
    }

    private void Seen(string worker, double now)
    {
        var label = _metrics.Worker(worker); // seen: its label is not freed as idle while the worker lives
        if (!_workers.Seen(worker, now)) return;
        _metrics.WorkerOnline(label);
        Log.Info("Celery worker {0} is online", worker);
    }

    private void SweepWorkers()
    {
        var (silent, gone) = _workers.Sweep(Now);
        foreach (var (worker, seconds) in silent)
        {
            Log.Warning("Celery worker {0} sent nothing for {1:F0} s: offline", worker, seconds);
            _metrics.WorkerOffline(_metrics.Worker(worker));
        }
        foreach (var worker in gone)
        {
            _metrics.RemoveWorker(worker);
            Log.Info("Removed the series of Celery worker {0}, offline for over {1}", worker, _settings.OfflineSeriesTtl);
        }
    }

    private void Discovered(string queue)
    {
        if (_knownQueues.Count < 10_000 && _knownQueues.Add(queue)) _queueWatcher.Tell(new CeleryQueuesDiscovered([queue]));
    }

    /// <inheritdoc />
    protected override void CountRejection(string channel, RejectionReason reason, string detail) =>
        _metrics.CountRejection(reason);

    private sealed record Sweep : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sweep Instance = new();
    }
}
