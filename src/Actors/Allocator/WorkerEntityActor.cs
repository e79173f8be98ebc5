using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Akka.Persistence;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Metrics;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// One allocator worker, a sharded persistent entity (persistence id <c>worker-{name}</c>) and the registry of
/// which queues it serves: it persists its registration (so a restarted node knows it again), announces itself to
/// each of its queues with the slots that queue may use, watches its liveness, and routes its status reports to
/// the queue that allocated each task. States: <c>Unregistered</c>, <c>Online</c>, <c>Offline</c>.
/// A worker serving several queues shares its pool among them (pool / queues, the remainder to the first ones),
/// so no combination of queue decisions can give it more unfinished tasks than its pool size.
/// </summary>
public sealed class WorkerEntityActor : ReceivePersistentActor, IWithTimers
{
    private const string LivenessTimer = "liveness";
    private const string AnnounceTimer = "announce";
    private readonly string _worker;
    private readonly AllocatorSettings _settings;
    private readonly IDatabase _database;
    private readonly CeleryMetrics _metrics;
    private readonly IReadOnlyActorRegistry _registry;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, string> _tasks = new(StringComparer.Ordinal); // task id -> queue
    private readonly HashSet<string> _started = new(StringComparer.Ordinal); // the unfinished tasks it started
    // Reports about a task this entity has not heard of yet, kept a few seconds: a worker's reply can overtake
    // the queue's notice (they travel different paths), and dropping it would cost a redelivery.
    private readonly Dictionary<string, (long At, List<WorkerTaskStatus> Reports)> _early = new(StringComparer.Ordinal);
    private const int MaxEarlyReports = 10_000;
    private const int MaxFinished = 50_000;
    private const long EarlyReportLifetimeMs = 5_000;
    private readonly RecentlyFinished _finished;
    private readonly long _startedAt = Environment.TickCount64;
    private RegisterWorker? _registration;
    private readonly PubSubTally _heard = new();
    private IActorRef _queues = ActorRefs.Nobody;
    private IActorRef _recorder = ActorRefs.Nobody;
    private long _lastSeen = Environment.TickCount64;
    private double? _lastHeard;

    /// <summary>Creates the entity of <paramref name="worker"/>.</summary>
    public WorkerEntityActor(string worker, AllocatorSettings settings, IConnectionMultiplexer redis,
        CeleryMetrics metrics, IReadOnlyActorRegistry registry)
    {
        _worker = worker;
        _settings = settings;
        _database = redis.GetDatabase();
        _metrics = metrics;
        _registry = registry;
        _finished = new RecentlyFinished(MaxFinished, settings.ReplayWindow);

        Recover<WorkerRegistered>(r => _registration = new RegisterWorker(r.Worker, r.Queues, r.Capabilities, r.PoolSize));
        Recover<WorkerUnregistered>(_ => _registration = null);
        Recover<RecoveryCompleted>(_ =>
        {
            if (_registration is null)
            {
                Become(Unregistered);
                return;
            }
            // After a restart nobody knows whether the worker is alive: it gets a full timeout to say so.
            _log.Info("Worker {0} recovered its registration; online until it is silent for {1}", _worker,
                _settings.WorkerTimeout);
            GoOnline();
            // This entity may be the successor of one on a node that died: what the worker holds is known only
            // to its queues, and its reports must reach them.
            foreach (var queue in _registration.Queues) _queues.Tell(new GetTasksOfWorker(queue, _worker));
        });
        Unregistered();
    }

    /// <summary>Props of the entity of <paramref name="worker"/>.</summary>
    public static Props Props(string worker, AllocatorSettings settings, IConnectionMultiplexer redis,
        CeleryMetrics metrics, IReadOnlyActorRegistry registry) =>
        Akka.Actor.Props.Create(() => new WorkerEntityActor(worker, settings, redis, metrics, registry));

    /// <inheritdoc />
    // The channel prefix keeps deployments that share one Redis apart; empty by default, so it is worker-{name}.
    public override string PersistenceId => "worker-" + _settings.Channels.Prefix + _worker;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override void PreStart()
    {
        _queues = _registry.Get<QueueRegion>();
        _recorder = _registry.Get<MetricsRecorderActor>();
        base.PreStart();
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        // Moved away or stopping: whichever node runs the entity next shows its gauges.
        _metrics.RemoveAllocatorWorker(_worker);
        base.PostStop();
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Worker {0}: persisting {1} failed; the entity stops and recovers", _worker, @event.GetType().Name);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    private void Unregistered()
    {
        CommandHeard<RegisterWorker>(r =>
        {
            if (!IsOldNews(r)) Register(r);
        });
        CommandHeard<WorkerTaskStatus>(Route);
        CommonCommands();
        // Heartbeats and unregistrations of a worker we do not know change nothing.
        CommandHeard<WorkerHeartbeat>(_ => Heard());
        CommandHeard<UnregisterWorker>(_ => { });
    }

    private void Online()
    {
        // Every node forwards the worker's registration: the same one again changes nothing and is not stored.
        CommandHeard<RegisterWorker>(r =>
        {
            if (IsOldNews(r)) return;
            if (SameRegistration(r)) Heard();
            else Register(r);
        });
        CommandHeard<WorkerHeartbeat>(_ => Heard());
        CommandHeard<WorkerTaskStatus>(s =>
        {
            if (!IsReplay(s)) Heard();
            Route(s);
        });
        CommandHeard<UnregisterWorker>(u =>
        {
            if (!IsOldNews(u)) Unregister();
        });
        Command<AnnounceTick>(_ => Announce());
        Command<LivenessCheck>(_ =>
        {
            UpdateGauges(online: null);
            ForgetStale();
            if (Environment.TickCount64 - _lastSeen < _settings.WorkerTimeout.TotalMilliseconds) return;
            _log.Info("Worker {0} silent for {1}: offline; its {2} unfinished tasks go back to their queues",
                _worker, _settings.WorkerTimeout, _tasks.Count);
            LeaveQueues(_registration!.Queues, "worker_offline");
            Timers.Cancel(LivenessTimer);
            Timers.Cancel(AnnounceTimer);
            Become(Offline);
            UpdateGauges(online: false);
        });
        CommonCommands();
    }

    private void Offline()
    {
        // A worker that speaks again is alive again, with the registration it had; a replay is not the worker
        // speaking now, and would bring back one that died with the node.
        CommandHeard<RegisterWorker>(r =>
        {
            if (!IsReplay(r)) Register(r);
        });
        CommandHeard<WorkerHeartbeat>(_ =>
        {
            Heard();
            GoOnline();
        });
        CommandHeard<WorkerTaskStatus>(s =>
        {
            Route(s);
            if (IsReplay(s)) return;
            Heard();
            GoOnline();
        });
        CommandHeard<UnregisterWorker>(u =>
        {
            if (!IsReplay(u)) Unregister();
        });
        CommonCommands();
    }

    private static bool IsReplay(IPubSubCommand command) => command.Via is { Replay: true };

    // Replayed registrations matter only to an entity that started in place of one on a node that died: it may
    // have missed them. Taken in the order they come, they leave it where the last one did.
    private bool IsOldNews(IPubSubCommand command) => IsReplay(command) && !_settings.TakesReplays(_startedAt);

    private void CommonCommands()
    {
        // The unfinished-task gauge follows on the next liveness check, not per task (see UpdateGauges).
        Command<TaskAssignedToWorker>(a =>
        {
            _tasks[a.TaskId] = a.Queue;
            _finished.Remove(a.TaskId);
            if (_early.Remove(a.TaskId, out var early))
                foreach (var report in early.Reports) Route(report);
        });
        Command<TaskReleasedFromWorker>(r => Forget(r.TaskId));
        Command<GetWorkerStatus>(_ => Sender.Tell(Status()));
        Command<WakeWorker>(_ => { });
        Command<AnnounceTick>(_ => { });
        Command<LivenessCheck>(_ =>
        {
            UpdateGauges(online: null);
            ForgetStale();
        });
    }

    private void Register(RegisterWorker register) =>
        Persist(new WorkerRegistered(register.Worker, register.Queues, register.Capabilities, register.PoolSize), _ =>
        {
            var dropped = _registration?.Queues.Except(register.Queues).ToList() ?? [];
            if (dropped.Count > 0) LeaveQueues(dropped, "reregistered");
            _registration = register;
            _database.SetAdd(_settings.WorkersKey, _worker, CommandFlags.FireAndForget);
            _log.Info("Worker {0} registered: queues {1}, pool {2}", _worker, string.Join(",", register.Queues), register.PoolSize);
            Heard();
            GoOnline();
        });

    private void Unregister() =>
        Persist(new WorkerUnregistered(_worker), _ =>
        {
            _log.Info("Worker {0} unregistered", _worker);
            LeaveQueues(_registration!.Queues, "unregistered");
            _registration = null;
            Timers.Cancel(LivenessTimer);
            Timers.Cancel(AnnounceTimer);
            Become(Unregistered);
            UpdateGauges(online: false);
        });

    private void GoOnline()
    {
        Announce();
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        Timers.StartPeriodicTimer(AnnounceTimer, AnnounceTick.Instance, _settings.AnnounceInterval);
        Become(Online);
        UpdateGauges(online: true);
    }

    // Repeated while online: the queues' view of their workers is not persisted, and a queue that starts again
    // on another node (its own died) learns its workers from this.
    private void Announce()
    {
        var r = _registration!;
        for (var i = 0; i < r.Queues.Count; i++)
            _queues.Tell(new WorkerServesQueue(r.Queues[i], _worker, r.Capabilities, Share(r.PoolSize, r.Queues.Count, i)));
    }

    private bool SameRegistration(RegisterWorker r) =>
        _registration is { } current && current.PoolSize == r.PoolSize && current.Queues.SequenceEqual(r.Queues) &&
        current.Capabilities.Count == r.Capabilities.Count &&
        current.Capabilities.All(c => r.Capabilities.TryGetValue(c.Key, out var v) && v == c.Value);

    /// <summary>Handles a command that may be one node's copy of a pub/sub message: the first copy of each
    /// publication is counted (<see cref="PubSubTally"/>); every copy is handled, as repeating them is harmless.</summary>
    private void CommandHeard<T>(Action<T> handler) where T : IPubSubCommand =>
        Command<T>(m =>
        {
            if (m.Via is { } via && _heard.Observe(via))
            {
                _metrics.CountPubSubMessage(via.Channel, via.MessageType);
                if (via.LatencySeconds is { } latency) _recorder.Tell(new ObservePubSubLatency(via.Channel, latency));
            }
            handler(m);
        });

    /// <summary>The slots queue number <paramref name="index"/> of <paramref name="queues"/> may use.</summary>
    public static int Share(int poolSize, int queues, int index) => poolSize / queues + (index < poolSize % queues ? 1 : 0);

    private void LeaveQueues(IEnumerable<string> queues, string reason)
    {
        var leaving = queues.ToHashSet(StringComparer.Ordinal);
        foreach (var queue in leaving) _queues.Tell(new WorkerLeftQueue(queue, _worker, reason));
        // The queues take these tasks back; they are no longer this worker's.
        foreach (var id in _tasks.Where(t => leaving.Contains(t.Value)).Select(t => t.Key).ToList()) Forget(id);
    }

    private void Route(WorkerTaskStatus status)
    {
        if (_tasks.TryGetValue(status.TaskId, out var queue))
        {
            if (status.Progress is TaskProgress.Succeeded or TaskProgress.Failed)
            {
                Forget(status.TaskId);
                _finished.Add(status.TaskId, queue, Environment.TickCount64);
            }
            else if (status.Progress == TaskProgress.Started) _started.Add(status.TaskId);
            Report(queue, status);
        }
        // Another node's copy of a report on a task that finished: old news, except to a queue that started
        // again after a node died and may have missed the end (it ignores what it knows).
        else if (_finished.TryGet(status.TaskId, out queue))
        {
            if (IsReplay(status)) Report(queue, status);
        }
        else KeepEarly(status);
    }

    private void Report(string queue, WorkerTaskStatus status) =>
        _queues.Tell(new ReportTaskProgress(queue, status.TaskId, _worker, status.Progress, status.Runtime, status.Exception));

    private void KeepEarly(WorkerTaskStatus status)
    {
        var now = Environment.TickCount64;
        if (_early.Count >= MaxEarlyReports)
            foreach (var old in _early.Where(e => now - e.Value.At > EarlyReportLifetimeMs).Select(e => e.Key).ToList())
                _early.Remove(old);
        if (_early.Count >= MaxEarlyReports)
        {
            _log.Debug("Worker {0} reported {1} on task {2}, which it does not hold; ignored", _worker,
                status.Progress, status.TaskId);
            return;
        }
        if (!_early.TryGetValue(status.TaskId, out var entry))
            _early[status.TaskId] = entry = (now, []);
        entry.Reports.Add(status);
    }

    private void ForgetStale()
    {
        _finished.Trim(Environment.TickCount64);
        if (_early.Count == 0) return;
        var now = Environment.TickCount64;
        foreach (var old in _early.Where(e => now - e.Value.At > EarlyReportLifetimeMs).Select(e => e.Key).ToList())
        {
            _log.Debug("Worker {0} reported on task {1}, which it does not hold; ignored", _worker, old);
            _early.Remove(old);
        }
    }

    private void Forget(string taskId)
    {
        _tasks.Remove(taskId);
        _started.Remove(taskId);
    }

    private void Heard()
    {
        _lastSeen = Environment.TickCount64;
        _lastHeard = AllocatorSettings.Now();
    }

    private bool _online;

    private void UpdateGauges(bool? online)
    {
        if (online is { } o) _online = o;
        if (_registration is null && online is null) return;
        _metrics.SetAllocatorWorker(_worker, _online, _registration?.PoolSize ?? 0, _started.Count,
            _tasks.Count - _started.Count);
    }

    private WorkerStatus Status() => new(_worker, _registration is not null, _registration?.Queues ?? [],
        _registration?.Capabilities ?? new Dictionary<string, CapabilityValue>(), _registration?.PoolSize ?? 0,
        _tasks.Count, _online, _lastHeard);

    private sealed class LivenessCheck : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly LivenessCheck Instance = new();
    }

    private sealed class AnnounceTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly AnnounceTick Instance = new();
    }
}
