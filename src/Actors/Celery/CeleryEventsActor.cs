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
/// Worker heartbeats carry a running count of tasks started; when it runs ahead of the <c>task-started</c>
/// events seen, the gap is counted as lost events. Its states are those of every intake (<see cref="PubSubIngressActor"/>):
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
    private readonly Dictionary<string, WorkerState> _workers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _knownQueues = new(StringComparer.Ordinal);
    // What remote control said each worker consumes; kept apart from _workers, as it may come before any event.
    private readonly Dictionary<string, IReadOnlyList<string>> _inspectedQueues = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly HeldTaskEvents _held = new(MaxHeldTasks);
    private bool _sentSeen;
    private string? _lastChannel;
    private string _lastRoutingKey = "";

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
        foreach (var worker in _workers.Keys) _metrics.RemoveWorker(worker);
    }

    private double Now => _clock.Elapsed.TotalSeconds;

    /// <inheritdoc />
    protected override void Resubscribed()
    {
        _metrics.CountResubscription();
        // The outage was ours, not the workers': their silence is timed from now.
        var now = Now;
        foreach (var state in _workers.Values.Where(w => w.Online)) state.LastSeen = now;
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
        var routingKey = RoutingKey(message.Channel);
        var batch = CeleryEventParser.Parse(message.Payload.Span);
        foreach (var (reason, detail) in batch.Rejections) Reject(message.Channel, reason, detail);
        var accepted = batch.Events.Count > 0 || batch.Rejections.Count == 0;
        Recorder.Tell(new PubSubMessageHandled(message.Channel,
            accepted ? routingKey : RedisSubscriptionActor.RejectedMessageType, Latency(batch), _metrics.Broker));
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
            _sentSeen = true;
            var released = _held.Release(e.TaskId);
            // Stamped after the worker had the task: it was queued by its first event here at the latest (the
            // wait counts from task-received, as when no task-sent comes).
            Apply(released.Count > 0 && released[0].Timestamp < e.Timestamp ? e with { Timestamp = released[0].Timestamp } : e, now);
            foreach (var held in released) Apply(held, now);
            return;
        }
        Seen(e.Hostname, now);
        // Counted on arrival: the lost-events check must not take a start held back here for a missing one.
        if (e.Type == CeleryTaskEventType.Started) _workers[e.Hostname].StartedSeen++;
        // One lookup serves the decision to hold and the count.
        var recalled = _tasks.Recall(e.TaskId, now);
        // Held only where task-sent events come at all: without them a wait would only delay the counts.
        var hold = _held.Holds(e.TaskId) || (_sentSeen && QueueUnknown(e, recalled));
        if (!hold || !_held.TryHold(e, now)) Apply(e, now, recalled);
    }

    private bool QueueUnknown(CeleryTaskEvent e, RememberedTask? remembered) =>
        e.Queue is null && remembered?.Queue is null && OnlyQueueOf(e.Hostname) is null;

    // Sent and received remember the task; every other event looks up what they remembered.
    private static bool Recalls(CeleryTaskEvent e) => e.Type is not (CeleryTaskEventType.Sent or CeleryTaskEventType.Received);

    private void ReleaseHeldEvents()
    {
        var now = Now;
        foreach (var held in _held.ReleaseHeldBefore(now - HoldFor.TotalSeconds)) Apply(held, now);
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
                if (QueueWait(e, remembered) is { } wait)
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

    // From when the task was queued (sent, else received) to its start, less the time it was not due yet. Sent is the
    // producer's clock and started the worker's: a start before the queueing is a clock apart, not a wait. A start a
    // moment before its ETA is the worker's timer firing early: no wait.
    private static double? QueueWait(CeleryTaskEvent started, RememberedTask? task)
    {
        if (task is not { QueuedAt: > 0 and var queuedAt } || started.Timestamp < queuedAt) return null;
        var wait = Math.Max(0, started.Timestamp - Math.Max(queuedAt, task.Eta ?? 0));
        return WireLimits.Duration("queue wait", wait) is null ? wait : null;
    }

    private (string Name, string Queue) Labels(CeleryTaskEvent e, RememberedTask? remembered)
    {
        var name = e.Name ?? remembered?.Name;
        var queue = e.Queue ?? remembered?.Queue ?? OnlyQueueOf(e.Hostname);
        if (name is null || queue is null) _metrics.CountTaskMemoryMiss();
        return (_metrics.TaskName(name ?? Unknown), _metrics.Queue(queue ?? Unknown));
    }

    private string? OnlyQueueOf(string worker) =>
        _inspectedQueues.TryGetValue(worker, out var queues) && queues is [var only] ? only : null;

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
                if (e.Processed is { } processed) CheckForLostEvents(e.Hostname, _workers[e.Hostname], processed);
                break;
            case CeleryWorkerEventType.Offline:
                if (_workers.TryGetValue(e.Hostname, out var state) && state.Online)
                {
                    Log.Info("Celery worker {0} went offline", e.Hostname);
                    GoOffline(e.Hostname, state, now);
                }
                break;
        }
    }

    /// <summary>
    /// Compares the worker's running count of started tasks (as of the previous heartbeat, so task events
    /// batched by the worker have had a heartbeat interval to arrive) with the task-started events seen.
    /// </summary>
    private void CheckForLostEvents(string worker, WorkerState state, long processed)
    {
        if (state.ProcessedBase is not { } baseCount || processed < baseCount)
        {
            // First heartbeat seen, or the worker restarted and its count began again.
            state.ProcessedBase = processed;
            state.StartedSeen = 0;
            state.PreviousProcessed = processed;
            state.LostCounted = 0;
            return;
        }
        var deficit = state.PreviousProcessed - baseCount - state.StartedSeen;
        if (deficit > state.LostCounted)
        {
            _metrics.CountLostEvents(worker, deficit - state.LostCounted);
            if (_lostEventsLog.TryAcquire(out var unlogged))
                Log.Warning("Worker {0} started {1} more tasks than the node saw task-started events for: events were lost{2}",
                    worker, deficit - state.LostCounted, unlogged > 0 ? $" ({unlogged} such reports not logged)" : "");
            state.LostCounted = deficit;
        }
        state.PreviousProcessed = processed;
    }

    private void Handle(CeleryWorkerInspected inspected)
    {
        var now = Now;
        foreach (var (taskId, queue) in inspected.TaskQueues) _tasks.Remember(taskId, null, queue, now);
        if (inspected.Queues is { } queues)
        {
            _inspectedQueues[inspected.Worker] = queues;
            foreach (var queue in queues) Discovered(queue);
        }
    }

    private void Seen(string worker, double now)
    {
        if (!_workers.TryGetValue(worker, out var state)) _workers[worker] = state = new WorkerState();
        state.LastSeen = now;
        var label = _metrics.Worker(worker); // seen: its label is not freed as idle while the worker lives
        if (state.Online) return;
        state.Online = true;
        state.OfflineSince = null;
        _metrics.WorkerOnline(label);
        Log.Info("Celery worker {0} is online", worker);
    }

    private void GoOffline(string worker, WorkerState state, double now)
    {
        state.Online = false;
        state.OfflineSince = now;
        _metrics.WorkerOffline(_metrics.Worker(worker));
    }

    private void SweepWorkers()
    {
        var now = Now;
        List<string>? gone = null;
        foreach (var (worker, state) in _workers)
        {
            if (state.Online && now - state.LastSeen > _settings.WorkerTimeout.TotalSeconds)
            {
                Log.Warning("Celery worker {0} sent nothing for {1:F0} s: offline", worker, now - state.LastSeen);
                GoOffline(worker, state, now);
            }
            else if (!state.Online && state.OfflineSince is { } since && now - since > _settings.OfflineSeriesTtl.TotalSeconds)
            {
                (gone ??= []).Add(worker);
            }
        }
        foreach (var worker in gone ?? [])
        {
            _workers.Remove(worker);
            _inspectedQueues.Remove(worker);
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

    /// <summary>Publish-to-handled latency by the sender's clock (the first event's timestamp).</summary>
    private static double? Latency(CeleryEventBatch batch)
    {
        var sent = batch.Events.Count == 0 ? 0 : batch.Events[0] switch
        {
            CeleryTaskEvent t => t.Timestamp,
            CeleryWorkerEvent w => w.Timestamp,
            _ => 0,
        };
        if (sent <= 0) return null;
        var latency = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - sent;
        return latency >= 0 ? latency : null;
    }

    // The feed hands the same string for the same channel, and events come on a few channels: the routing key of
    // the last one is kept rather than cut out of every message's channel name again.
    private string RoutingKey(string channel)
    {
        if (ReferenceEquals(channel, _lastChannel)) return _lastRoutingKey;
        var slash = channel.LastIndexOf('/');
        _lastRoutingKey = slash >= 0 && slash + 1 < channel.Length ? channel[(slash + 1)..] : channel;
        _lastChannel = channel;
        return _lastRoutingKey;
    }

    /// <summary>How long a task event whose queue is unknown waits for the task's <c>task-sent</c> (at least; the
    /// sweep that releases it runs every second).</summary>
    public static readonly TimeSpan HoldFor = TimeSpan.FromSeconds(1);

    /// <summary>Tasks whose events are held at most; past this an event is counted at once, under what is known.</summary>
    public const int MaxHeldTasks = 10_000;

    /// <summary>The label value of a task name or queue the node could not learn.</summary>
    public const string Unknown = LabelValues.Unknown;

    private sealed class WorkerState
    {
        public bool Online;
        public double LastSeen;
        public double? OfflineSince;
        public long? ProcessedBase;
        public long PreviousProcessed;
        public long StartedSeen;
        public long LostCounted;
    }

    private sealed record Sweep : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sweep Instance = new();
    }
}
