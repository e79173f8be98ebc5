using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Akka.Persistence;
using Akka.Cluster.Sharding;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// One allocator worker, a sharded persistent entity (persistence id <c>worker-{name}</c>): it persists its
/// registration, watches its liveness, routes the status reports that name no queue to the queue of each task (the
/// queues take those that name them, and tell it of freed slots and of the worker speaking), and is the one
/// authority over its pool (<see cref="WorkerPool"/>): queues tell it what waits for it, and only it grants slots,
/// to the most urgent offer of all its queues, so its unfinished tasks over all queues never exceed its pool.
/// States: <c>Unregistered</c> (passivates when idle); <c>Unconfirmed</c> (a registration recovered after a restart
/// or a move: offline and given nothing until the worker is heard from, and its tasks go back if it stays silent for
/// the worker timeout); <c>Online</c>; <c>Offline</c> (holds nothing, passivates when idle). A replayed message
/// (<see cref="IPubSubCommand.Replayed"/>) is old news of the worker: it never brings an offline worker back nor
/// changes or ends a registration; it only fills in a registration this entity never had, and its status reports
/// reach their queues, which ignore what they know.
/// The registered states carry their <see cref="WorkerSlots"/> (the registration, the pool and the worker's side of
/// the slot protocol, and when the worker was last heard); <see cref="WorkerReports"/> keeps what the reports need
/// beyond the pool. Deadlines run on the monotonic clock of the node that runs it.
/// </summary>
public sealed class WorkerEntityActor : ReceivePersistentActor, IWithTimers
{
    private const string LivenessTimer = "liveness";
    private const string AnnounceTimer = "announce";
    private readonly string _worker;
    private readonly AllocatorSettings _settings;
    private readonly IAllocatorRedis _redis;
    private readonly AllocatorMetrics _metrics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly WorkerReports _reports;
    private readonly Action<IQueueCommand> _send;
    private RegisterWorker? _recovered; // only while recovering; the states carry the registration after that

    /// <summary>Creates the entity of <paramref name="worker"/>.</summary>
    public WorkerEntityActor(string worker, AllocatorSettings settings, IAllocatorRedis redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry)
    {
        _worker = worker;
        _settings = settings;
        _redis = redis;
        _metrics = metrics;
        // Both regions exist once any entity runs: they are registered before the node takes messages.
        var queues = registry.Get<QueueRegion>();
        _send = m => queues.Tell(m);
        _reports = new WorkerReports(worker, settings.ReplayWindow, _send, Ignored);

        Recover<WorkerRegistered>(r =>
            _recovered = new RegisterWorker(r.Worker, r.Queues, r.Capabilities, r.PoolSize, Instance: r.Instance));
        Recover<WorkerUnregistered>(_ => _recovered = null);
        Recover<WorkerIncarnationStarted>(_ => { });
        Recover<RecoveryCompleted>(_ =>
        {
            if (_recovered is not { } r)
            {
                Become(Unregistered);
                return;
            }
            _recovered = null;
            _log.Info("Worker {0} recovered its registration; offline until it is heard from", _worker);
            AwaitConfirmation(new WorkerSlots(r, _reports, _send));
        });
        Unregistered();
    }

    /// <summary>Props of the entity of <paramref name="worker"/>.</summary>
    public static Props Props(string worker, AllocatorSettings settings, IAllocatorRedis redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry) =>
        Akka.Actor.Props.Create(() => new WorkerEntityActor(worker, settings, redis, metrics, registry));

    /// <inheritdoc />
    // The channel prefix keeps deployments that share one Redis apart; empty by default, so it is worker-{name}.
    public override string PersistenceId => "worker-" + _settings.Channels.Prefix + _worker;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override void PostStop()
    {
        // Moved away or stopping: whichever node runs the entity next shows its gauges.
        _metrics.RemoveWorker(_worker);
        base.PostStop();
    }

    private long Now => Environment.TickCount64;

    // Not (or no longer) registered: anyone can name a worker on the wire, so an entity started by a message about
    // an unknown name counts it as rejected and passivates once idle, and a flood of names holds no memory.
    private void Unregistered()
    {
        Context.SetReceiveTimeout(_settings.IdleUnregistered);
        Command<RegisterWorker>(r => Register(null, r));
        Command<WorkerTaskStatus>(s => Route(null, s));
        Command<WorkerHeartbeat>(Unknown);
        Command<UnregisterWorker>(Unknown);
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        Command<LivenessCheck>(_ => Tidy(null, online: false));
        NotOnline(null);
    }

    private void Unknown(IPubSubCommand command)
    {
        if (command.Replayed) return; // counted when it was first taken
        _metrics.CountRejection(ChannelKind.WorkersControl, RejectionReason.UnknownWorker);
        _log.Debug("Worker {0} is not registered: its heartbeat or unregistration is ignored", _worker);
    }

    // Nobody knows whether the worker is alive: it gets nothing until it speaks, and its tasks go back to their
    // queues if it stays silent for a whole worker timeout from now.
    private void AwaitConfirmation(WorkerSlots w)
    {
        Context.SetReceiveTimeout(null); // it watches a deadline: it must not passivate
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        Become(() => Unconfirmed(w));
    }

    private void Unconfirmed(WorkerSlots w)
    {
        WorkerSpeaks(w, () => Confirm(w), online: false);
        Command<LivenessCheck>(_ => OfflineIfSilent(w, online: false));
        NotOnline(w);
    }

    private void Online(WorkerSlots w)
    {
        WorkerSpeaks(w, () => Heard(w), online: true);
        Command<AnnounceTick>(_ => Sync(w));
        Command<LivenessCheck>(_ => OfflineIfSilent(w, online: true));
        Command<TasksWaiting>(w.Offered);
        Command<QueueSynced>(s => w.Synced(s, Now));
        Command<TaskAssignedToWorker>(a => w.Assigned(a, Now));
        Command<SlotsReturned>(w.Returned);
        Command<TaskReleasedFromWorker>(w.Released);
        Command<GetWorkerStatus>(_ => Sender.Tell(WorkerSlots.Status(_worker, w, online: true)));
    }

    // Offline and holding nothing: after a while with no message it passivates, and its shard forgets it (it is
    // started again by the worker's next message, or a query).
    private void Offline(WorkerSlots w)
    {
        WorkerSpeaks(w, () => Confirm(w), online: false);
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        Command<LivenessCheck>(_ => Tidy(w, online: false));
        NotOnline(w);
    }

    // What a registered worker says. The same registration again (a worker repeating it) is not stored, only heard;
    // one that is not online is alive again when it speaks (heard confirms it), with the registration it had. A
    // replay is not the worker speaking now, and would bring back one that died with the node.
    private void WorkerSpeaks(WorkerSlots w, Action heard, bool online)
    {
        Command<RegisterWorker>(r =>
        {
            if (r.Replayed) return;
            if (w.Matches(r)) heard();
            else Register(w, r);
        });
        Command<WorkerHeartbeat>(h =>
        {
            if (h.Replayed) return;
            heard();
            if (online && h.Running is { } running)
                w.Running(running, Now, (long)_settings.AckTimeout.TotalMilliseconds);
        });
        Command<WorkerTaskStatus>(s =>
        {
            Route(w, s);
            if (!s.Replayed) heard();
        });
        Command<UnregisterWorker>(u => { if (!u.Replayed) Unregister(w); });
        // Reports a queue took itself: the worker spoke.
        Command<WorkerHeard>(h =>
        {
            _reports.StartedIn(h.Queue, h.Started);
            heard();
        });
    }

    // Slot-protocol messages that reach a worker which is not online (or not registered) are answers to what an
    // earlier state did: its queues took its tasks back when it left, and the sync on its return tells the rest.
    private void NotOnline(WorkerSlots? w)
    {
        Command<GetWorkerStatus>(_ => Sender.Tell(WorkerSlots.Status(_worker, w, online: false)));
        Command<IQueueToWorker>(_ => { });
        Command<AnnounceTick>(_ => { });
    }

    private void Register(WorkerSlots? current, RegisterWorker register)
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
            var restarted = current?.IsRestart(register) == true ? ", a new instance: what the old one held goes back" : "";
            var slots = current?.Reregistered(register) ?? new WorkerSlots(register, _reports, _send);
            slots.BeginIncarnation(LastSequenceNr);
            _redis.ListWorker(_worker);
            _log.Info("Worker {0} registered: queues {1}, pool {2}, instance {3}{4}", _worker,
                string.Join(",", register.Queues), register.PoolSize, register.Instance ?? "unnamed", restarted);
            // A replayed one is a registration this entity never had (taken by nobody while the nodes changed, or
            // by a node that died before it was stored): at most the replay window old, so the worker is taken as
            // alive, and its silence takes it offline after the worker timeout if it is not.
            Heard(slots);
            GoOnline(slots);
        });
    }

    private void Unregister(WorkerSlots w) =>
        Persist(new WorkerUnregistered(_worker), _ =>
        {
            _log.Info("Worker {0} unregistered", _worker);
            w.LeaveAll(RequeueReason.Unregistered);
            Timers.CancelAll();
            Become(Unregistered);
            Tidy(null, online: false);
        });

    // Heard from after a restart or a silence: online with the registration it has, once this incarnation has an
    // epoch, which its grants carry.
    private void Confirm(WorkerSlots w)
    {
        Heard(w);
        if (w.Epoch != 0) GoOnline(w);
        else Persist(new WorkerIncarnationStarted(_worker), _ =>
        {
            w.BeginIncarnation(LastSequenceNr);
            GoOnline(w);
        });
    }

    private void GoOnline(WorkerSlots w)
    {
        Context.SetReceiveTimeout(null);
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        Timers.StartPeriodicTimer(AnnounceTimer, AnnounceTick.Instance, _settings.AnnounceInterval);
        Become(() => Online(w));
        Sync(w);
        Tidy(w, online: true);
    }

    private void GoOffline(WorkerSlots w, string reason)
    {
        w.LeaveAll(reason);
        Timers.Cancel(AnnounceTimer);
        Timers.StartPeriodicTimer(LivenessTimer, LivenessCheck.Instance, _settings.SweepInterval);
        Context.SetReceiveTimeout(_settings.IdleUnregistered);
        Become(() => Offline(w));
        Tidy(w, online: false);
    }

    // Repeated while online; a sync whose answer is five announcements late is replaced.
    private void Sync(WorkerSlots w) =>
        w.Sync(Now, (long)(_settings.AnnounceInterval.TotalMilliseconds * 5));

    private void Route(WorkerSlots? w, WorkerTaskStatus status) => _reports.Route(w, status, Now);

    // On every liveness check and change of state: the gauges, and the reports too old to keep.
    private void Tidy(WorkerSlots? w, bool online)
    {
        var held = w?.Pool.Held ?? 0;
        _metrics.SetWorker(_worker, online, w?.Registration.PoolSize ?? 0, _reports.StartedCount, held - _reports.StartedCount);
        _reports.ForgetStale(Now);
    }

    private void Ignored(WorkerTaskStatus report)
    {
        _log.Debug("Worker {0} reported on task {1}, which it does not hold; ignored", _worker, report.TaskId);
        if (!report.Replayed) _metrics.CountIgnoredReport(IgnoredReport.UnknownTask);
    }

    private void Heard(WorkerSlots w) => w.Heard(Now, AllocatorSettings.Now());

    // Not heard from for a whole worker timeout (since its recovery, if it was never confirmed): offline, and what it
    // held goes back to its queues.
    private void OfflineIfSilent(WorkerSlots w, bool online)
    {
        Tidy(w, online);
        if (Now - w.LastSeenMs < _settings.WorkerTimeout.TotalMilliseconds) return;
        _log.Info("Worker {0} silent for {1}: offline; what it held goes back to its queues", _worker,
            _settings.WorkerTimeout);
        GoOffline(w, RequeueReason.WorkerOffline);
    }

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
