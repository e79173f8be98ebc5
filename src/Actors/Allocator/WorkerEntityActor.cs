using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Akka.Persistence;
using Akka.Cluster.Sharding;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// One allocator worker, a sharded persistent entity (persistence id <c>worker-{name}</c>): it persists its
/// registration, watches its liveness, routes its status reports to the queue of each task, and is the one
/// authority over its pool (<see cref="WorkerPool"/>): queues tell it what waits for it, and only it grants slots,
/// to the most urgent offer of all its queues, so its unfinished tasks over all queues never exceed its pool.
/// States: <c>Unregistered</c> (passivates when idle); <c>Unconfirmed</c> (a registration recovered after a restart
/// or a move: offline and given nothing until the worker is heard from, and its tasks go back if it stays silent for
/// the worker timeout); <c>Online</c>; <c>Offline</c> (holds nothing, passivates when idle). A replayed message
/// (<see cref="IPubSubCommand.Replayed"/>) is old news of the worker: it never brings an offline worker back nor
/// changes or ends a registration; it only fills in a registration this entity never had, and its status reports
/// reach their queues, which ignore what they know.
/// Deadlines run on the monotonic clock of the node that runs it.
/// </summary>
public sealed class WorkerEntityActor : ReceivePersistentActor, IWithTimers
{
    private const string LivenessTimer = "liveness";
    private const string AnnounceTimer = "announce";
    private const int MaxEarlyReports = 10_000;
    // A task has four reports at most (received, started, an outcome, a retry), and a replay may repeat them.
    private const int MaxEarlyReportsPerTask = 8;
    private const int MaxFinished = 50_000;
    private const long EarlyReportLifetimeMs = 5_000;
    private readonly string _worker;
    private readonly AllocatorSettings _settings;
    private readonly IDatabase _database;
    private readonly AllocatorMetrics _metrics;
    private readonly IReadOnlyActorRegistry _registry;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<(string Queue, string TaskId)> _started = []; // the unfinished tasks it started
    // Reports about a task this entity has not heard of yet, kept a few seconds: a worker's reply can overtake
    // the queue's notice (they travel different paths), and dropping it would cost a redelivery.
    private readonly Dictionary<string, (long At, List<WorkerTaskStatus> Reports)> _early = new(StringComparer.Ordinal);
    // Tasks it held a moment ago (finished, or taken back), with their queue: late reports still reach the queue,
    // which finishes a task that a former holder completed, or counts the report as ignored.
    private readonly RecentlyFinished _finished;
    private RegisterWorker? _registration;
    private WorkerPool? _pool;
    private long _epoch;
    private IActorRef _queues = ActorRefs.Nobody;
    private long _lastSeen = Environment.TickCount64;
    private double? _lastHeard;

    /// <summary>Creates the entity of <paramref name="worker"/>.</summary>
    public WorkerEntityActor(string worker, AllocatorSettings settings, IConnectionMultiplexer redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry)
    {
        _worker = worker;
        _settings = settings;
        _database = redis.GetDatabase();
        _metrics = metrics;
        _registry = registry;
        _finished = new RecentlyFinished(MaxFinished, settings.ReplayWindow);

        Recover<WorkerRegistered>(r =>
            _registration = new RegisterWorker(r.Worker, r.Queues, r.Capabilities, r.PoolSize, Instance: r.Instance));
        Recover<WorkerUnregistered>(_ => _registration = null);
        Recover<WorkerIncarnationStarted>(_ => { });
        Recover<RecoveryCompleted>(_ =>
        {
            if (_registration is not { } r)
            {
                Become(Unregistered);
                return;
            }
            _log.Info("Worker {0} recovered its registration; offline until it is heard from", _worker);
            _pool = new WorkerPool(r.PoolSize, r.Queues);
            AwaitConfirmation();
        });
        Unregistered();
    }

    /// <summary>Props of the entity of <paramref name="worker"/>.</summary>
    public static Props Props(string worker, AllocatorSettings settings, IConnectionMultiplexer redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry) =>
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
        base.PreStart();
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        // Moved away or stopping: whichever node runs the entity next shows its gauges.
        _metrics.RemoveWorker(_worker);
        base.PostStop();
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Worker {0}: persisting {1} failed; the entity stops and recovers", _worker, @event.GetType().Name);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    // Not (or no longer) registered: anyone can name a worker on the wire, so an entity started by a message about
    // an unknown name counts it as rejected and passivates once idle, and a flood of names holds no memory.
    private void Unregistered()
    {
        Context.SetReceiveTimeout(_settings.IdleUnregistered);
        Command<RegisterWorker>(Register);
        Command<WorkerTaskStatus>(Route);
        Command<WorkerHeartbeat>(Unknown);
        Command<UnregisterWorker>(Unknown);
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        CommonCommands(online: false);
    }

    private void Unknown(IPubSubCommand command)
    {
        if (command.Replayed) return; // counted when it was first taken
        _metrics.CountRejection(ChannelKind.WorkersControl, RejectionReason.UnknownWorker);
        _log.Debug("Worker {0} is not registered: its heartbeat or unregistration is ignored", _worker);
    }

    // Nobody knows whether the worker is alive: it gets nothing until it speaks, and its tasks go back to their
    // queues if it stays silent for a whole worker timeout from now.
    private void AwaitConfirmation()
    {
        Context.SetReceiveTimeout(null); // it watches a deadline: it must not passivate
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        var since = Environment.TickCount64;
        Become(() => Unconfirmed(since));
    }

    private void Unconfirmed(long sinceMs)
    {
        OnlineWhenHeard();
        Command<LivenessCheck>(_ =>
        {
            ForgetStale();
            if (Environment.TickCount64 - sinceMs < _settings.WorkerTimeout.TotalMilliseconds) return;
            _log.Info("Worker {0} not heard from for {1} since its registration was recovered: offline; what it " +
                      "held goes back", _worker, _settings.WorkerTimeout);
            GoOffline(RequeueReason.WorkerOffline);
        });
        CommonCommands(online: false);
    }

    private void Online()
    {
        // The same registration again (a worker repeating it) changes nothing and is not stored.
        Command<RegisterWorker>(r =>
        {
            if (r.Replayed) return;
            if (SameRegistration(r)) Heard();
            else Register(r);
        });
        Command<WorkerHeartbeat>(h =>
        {
            if (h.Replayed) return;
            Heard();
            if (h.Running is { } running) ReturnWhatIsNotRunning(running);
        });
        Command<WorkerTaskStatus>(s =>
        {
            if (!s.Replayed) Heard();
            Route(s);
        });
        Command<UnregisterWorker>(u =>
        {
            if (!u.Replayed) Unregister();
        });
        Command<AnnounceTick>(_ => Sync());
        Command<LivenessCheck>(_ =>
        {
            UpdateGauges(online: true);
            ForgetStale();
            if (Environment.TickCount64 - _lastSeen < _settings.WorkerTimeout.TotalMilliseconds) return;
            _log.Info("Worker {0} silent for {1}: offline; its {2} unfinished tasks go back to their queues",
                _worker, _settings.WorkerTimeout, _pool!.Held);
            GoOffline(RequeueReason.WorkerOffline);
        });
        Command<TasksWaiting>(w =>
        {
            _pool!.Offered(w.Queue, w.Offer);
            Grant();
        });
        Command<QueueSynced>(s =>
        {
            if (s.Epoch != _epoch || !_pool!.Synced(s.Queue, s.Stamp, s.Held, s.Offer, Environment.TickCount64)) return;
            RouteEarlyReports();
            Grant();
        });
        Command<TaskAssignedToWorker>(a =>
        {
            _pool!.Assigned(a.Queue, a.TaskId, a.Next, Environment.TickCount64);
            _finished.Remove(a.TaskId);
            RouteEarlyReports(a.TaskId);
            if (a.Next is not null) Grant();
        });
        Command<SlotsReturned>(r =>
        {
            _pool!.Returned(r.Queue, r.Count, r.Next);
            Grant();
        });
        Command<TaskReleasedFromWorker>(r =>
        {
            Let(r.Queue, r.TaskId);
            Grant();
        });
        CommonCommands(online: true);
    }

    // Offline and holding nothing: after a while with no message it passivates, and its shard forgets it (it is
    // started again by the worker's next message, or a query).
    private void Offline()
    {
        OnlineWhenHeard();
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        CommonCommands(online: false);
    }

    // A worker that speaks again is alive again, with the registration it had; a replay is not the worker speaking
    // now, and would bring back one that died with the node.
    private void OnlineWhenHeard()
    {
        Command<RegisterWorker>(r =>
        {
            if (r.Replayed) return;
            if (SameRegistration(r)) Confirm();
            else Register(r);
        });
        Command<WorkerHeartbeat>(h =>
        {
            if (!h.Replayed) Confirm();
        });
        Command<WorkerTaskStatus>(s =>
        {
            Route(s);
            if (!s.Replayed) Confirm();
        });
        Command<UnregisterWorker>(u =>
        {
            if (!u.Replayed) Unregister();
        });
    }

    // Slot-protocol messages that reach a worker which is not online (or not registered) are answers to what an
    // earlier state did: its queues took its tasks back when it left, and the sync on its return tells the rest.
    private void CommonCommands(bool online)
    {
        Command<TasksWaiting>(_ => { });
        Command<QueueSynced>(_ => { });
        Command<TaskAssignedToWorker>(_ => { });
        Command<SlotsReturned>(_ => { });
        Command<TaskReleasedFromWorker>(_ => { });
        Command<GetWorkerStatus>(_ => Sender.Tell(Status(online)));
        Command<AnnounceTick>(_ => { });
        Command<LivenessCheck>(_ =>
        {
            UpdateGauges(online);
            ForgetStale();
        });
    }

    private void Register(RegisterWorker register)
    {
        // The parsers and the client gateway refuse these; an event this entity could not apply on recovery
        // must never reach the journal, whoever sent the command.
        if (register.Queues.Count == 0 || register.PoolSize < 1)
        {
            _log.Warning("Worker {0}: a registration with {1} queues and pool {2} is not one; ignored", _worker,
                register.Queues.Count, register.PoolSize);
            return;
        }
        Persist(new WorkerRegistered(register.Worker, register.Queues, register.Capabilities, register.PoolSize,
            register.Instance), _ =>
        {
            if (_epoch == 0) _epoch = LastSequenceNr;
            var restarted = _registration?.Instance is { } known && register.Instance is { } now && known != now;
            if (restarted && _pool is not null)
            {
                _log.Info("Worker {0} registered as a new instance ({1}): the process restarted, what it held goes back",
                    _worker, register.Instance);
                LeaveQueues(_pool.Queues.ToList(), RequeueReason.WorkerRestarted);
                _pool.Reset();
            }
            else if (_pool is not null)
            {
                var dropped = _pool.Queues.Except(register.Queues).ToList();
                if (dropped.Count > 0) LeaveQueues(dropped, RequeueReason.Reregistered);
            }
            _registration = register;
            if (_pool is null) _pool = new WorkerPool(register.PoolSize, register.Queues);
            else
            {
                _pool.Size = register.PoolSize;
                _pool.SetQueues(register.Queues);
            }
            _database.SetAdd(_settings.WorkersKey, _worker, CommandFlags.FireAndForget);
            _log.Info("Worker {0} registered: queues {1}, pool {2}", _worker, string.Join(",", register.Queues), register.PoolSize);
            // A replayed one is a registration this entity never had (taken by nobody while the nodes changed, or
            // by a node that died before it was stored): at most the replay window old, so the worker is taken as
            // alive, and its silence takes it offline after the worker timeout if it is not.
            Heard();
            GoOnline();
        });
    }

    private void Unregister() =>
        Persist(new WorkerUnregistered(_worker), _ =>
        {
            _log.Info("Worker {0} unregistered", _worker);
            LeaveQueues(_pool!.Queues.ToList(), RequeueReason.Unregistered);
            _registration = null;
            _pool = null;
            Timers.Cancel(LivenessTimer);
            Timers.Cancel(AnnounceTimer);
            Become(Unregistered);
            UpdateGauges(online: false);
        });

    // Heard from after a restart or a silence: online with the registration it has, once this incarnation has an
    // epoch (the sequence number of its first event), which its grants carry.
    private void Confirm()
    {
        Heard();
        if (_epoch != 0)
        {
            GoOnline();
            return;
        }
        Persist(new WorkerIncarnationStarted(_worker), _ =>
        {
            _epoch = LastSequenceNr;
            GoOnline();
        });
    }

    private void GoOnline()
    {
        Context.SetReceiveTimeout(null);
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        Timers.StartPeriodicTimer(AnnounceTimer, AnnounceTick.Instance, _settings.AnnounceInterval);
        Become(Online);
        Sync();
        UpdateGauges(online: true);
    }

    private void GoOffline(string reason)
    {
        LeaveQueues(_pool!.Queues.ToList(), reason);
        _pool.Reset();
        Timers.Cancel(AnnounceTimer);
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        Context.SetReceiveTimeout(_settings.IdleUnregistered);
        Become(Offline);
        UpdateGauges(online: false);
    }

    // Repeated while online: each queue learns (again) that the worker serves it and how much room it has, and
    // answers what the worker holds there - the cut that corrects whatever message of the protocol was lost.
    private void Sync()
    {
        var pool = _pool!;
        var now = Environment.TickCount64;
        var patience = (long)(_settings.AnnounceInterval.TotalMilliseconds * 5);
        foreach (var queue in pool.Queues.ToList())
        {
            if (pool.StartSync(queue, now, patience) is not { } stamp) continue;
            _queues.Tell(new WorkerServesQueue(queue, _worker, _registration!.Capabilities, _epoch, stamp, pool.Free, pool.Held));
            pool.Told(queue, pool.Free);
        }
    }

    // Free slots go to the most urgent offers; queues whose offers it cannot take now hear that it is full (they
    // offer to another worker), and queues that heard it was full hear when it has room again.
    private void Grant()
    {
        var pool = _pool!;
        foreach (var (queue, count) in pool.Grants())
        {
            _queues.Tell(new GrantSlots(queue, _worker, _epoch, count, pool.Free, pool.Held));
            pool.Told(queue, pool.Free);
        }
        if (!pool.AllSynced) return;
        foreach (var queue in pool.Queues)
        {
            var full = pool.Free <= 0;
            if (full == pool.ToldFull(queue) || (full && !pool.HasOffer(queue))) continue;
            _queues.Tell(new WorkerRoomChanged(queue, _worker, Math.Max(0, pool.Free), pool.Held));
            pool.Told(queue, pool.Free);
        }
    }

    private bool SameRegistration(RegisterWorker r) =>
        _registration is { } current && current.PoolSize == r.PoolSize && current.Queues.SequenceEqual(r.Queues) &&
        (r.Instance is null || r.Instance == current.Instance) &&
        current.Capabilities.Count == r.Capabilities.Count &&
        current.Capabilities.All(c => r.Capabilities.TryGetValue(c.Key, out var v) && v == c.Value);

    private void LeaveQueues(IReadOnlyCollection<string> queues, string reason)
    {
        foreach (var queue in queues) _queues.Tell(new WorkerLeftQueue(queue, _worker, reason));
        // The queues take these tasks back; they are no longer this worker's (late reports still reach them).
        var leaving = queues.ToHashSet(StringComparer.Ordinal);
        foreach (var (queue, id) in _pool!.AllHeld().Where(t => leaving.Contains(t.Queue)).ToList()) Let(queue, id);
    }

    private void ReturnWhatIsNotRunning(IReadOnlyList<string> running)
    {
        var pool = _pool!;
        if (!pool.AllSynced) return; // what it holds is not known yet
        var gone = pool.NotRunning(running.ToHashSet(StringComparer.Ordinal), Environment.TickCount64,
            (long)_settings.AckTimeout.TotalMilliseconds);
        foreach (var (queue, id) in gone)
        {
            _queues.Tell(new ReturnTask(queue, id, _worker, RequeueReason.NotRunning));
            Let(queue, id);
        }
        if (gone.Count > 0) Grant();
    }

    // The task is no longer this worker's: its slot is free.
    private void Let(string queue, string taskId)
    {
        _pool?.Forget(queue, taskId);
        _started.Remove((queue, taskId));
        _finished.Add(taskId, queue, Environment.TickCount64);
    }

    private void Route(WorkerTaskStatus status)
    {
        var queue = status.Queue ?? _pool?.QueueOf(status.TaskId);
        if (queue is not null && _pool is not null && _pool.Holds(queue, status.TaskId))
        {
            if (status.Progress is TaskProgress.Succeeded or TaskProgress.Failed)
            {
                Let(queue, status.TaskId);
                Grant(); // grants nothing unless online and synced
            }
            else if (status.Progress == TaskProgress.Started) _started.Add((queue, status.TaskId));
            Report(queue, status);
            return;
        }
        // Not held here: the queue decides (a former holder may finish it) and counts what it ignores.
        if (queue is null && _finished.TryGet(status.TaskId, out var recent)) queue = recent;
        if (queue is not null) Report(queue, status);
        // A replay comes in a burst, often to an entity that has just started and knows nothing yet: rather than
        // fill the early reports, it goes to every queue of the worker, and the one that holds the task applies it
        // (the others ignore it, uncounted).
        else if (status.Replayed && _pool is not null)
            foreach (var q in _pool.Queues) Report(q, status);
        else KeepEarly(status);
    }

    private void Report(string queue, WorkerTaskStatus status) =>
        _queues.Tell(new ReportTaskProgress(queue, status.TaskId, _worker, status.Progress, status.Runtime,
            status.Exception, status.Replayed));

    private void KeepEarly(WorkerTaskStatus status)
    {
        var now = Environment.TickCount64;
        if (_early.Count >= MaxEarlyReports) ForgetStale();
        if (_early.Count >= MaxEarlyReports)
        {
            Ignored(status, IgnoredReport.UnknownTask);
            return;
        }
        if (!_early.TryGetValue(status.TaskId, out var entry))
            _early[status.TaskId] = entry = (now, []);
        if (entry.Reports.Count >= MaxEarlyReportsPerTask)
        {
            Ignored(status, IgnoredReport.UnknownTask); // the same task reported again and again
            return;
        }
        entry.Reports.Add(status);
    }

    private void RouteEarlyReports(string taskId)
    {
        if (_early.Remove(taskId, out var early))
            foreach (var report in early.Reports) Route(report);
    }

    private void RouteEarlyReports()
    {
        foreach (var id in _early.Keys.Where(id => _pool!.QueueOf(id) is not null).ToList()) RouteEarlyReports(id);
    }

    private void ForgetStale()
    {
        _finished.Trim(Environment.TickCount64);
        if (_early.Count == 0) return;
        var now = Environment.TickCount64;
        foreach (var old in _early.Where(e => now - e.Value.At > EarlyReportLifetimeMs).Select(e => e.Key).ToList())
        {
            _log.Debug("Worker {0} reported on task {1}, which it does not hold; ignored", _worker, old);
            _early.Remove(old, out var dropped);
            foreach (var report in dropped.Reports) Ignored(report, IgnoredReport.UnknownTask);
        }
    }

    private void Ignored(WorkerTaskStatus report, string reason)
    {
        if (!report.Replayed) _metrics.CountIgnoredReport(reason);
    }

    private void Heard()
    {
        _lastSeen = Environment.TickCount64;
        _lastHeard = AllocatorSettings.Now();
    }

    private void UpdateGauges(bool online)
    {
        if (_registration is null && online) return;
        var held = _pool?.Held ?? 0;
        _metrics.SetWorker(_worker, online, _registration?.PoolSize ?? 0, _started.Count, held - _started.Count);
    }

    private WorkerStatus Status(bool online) => new(_worker, _registration is not null, _registration?.Queues ?? [],
        _registration?.Capabilities ?? new Dictionary<string, CapabilityValue>(), _registration?.PoolSize ?? 0,
        _pool?.Held ?? 0, online, _lastHeard, _registration?.Instance);

    // Its own clock: it does not keep an idle entity from passivating.
    private sealed class LivenessCheck : INoSerializationVerificationNeeded, IDeadLetterSuppression, INotInfluenceReceiveTimeout
    {
        public static readonly LivenessCheck Instance = new();
    }

    private sealed class AnnounceTick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly AnnounceTick Instance = new();
    }
}
