using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Hosting;
using Akka.Persistence;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using CeleryActors.Messages.Metrics;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// One queue of the allocator, a sharded persistent entity (persistence id <c>queue-{name}</c>). It decides with
/// its <see cref="QueueState"/> and applies each event at once (so the next message sees it). It allocates only on
/// slots its workers grant (<see cref="GrantSlots"/>): it offers what waits to the least loaded worker with room
/// (<see cref="QueueConsumers"/>), and the worker entity, which alone counts its pool, grants. Events are stored
/// by group commit: while one journal write is under way, new events collect, and they go as one
/// <see cref="QueueEventBatch"/> when it completes - one write per round trip, however busy the queue. What
/// leaves the entity - an assignment on the worker's channel, the worker entity's bookkeeping, metrics - happens
/// only once its event is in the journal, in one place (<see cref="QueueOutbox"/>), so nothing is promised that a
/// crash could forget. A persist failure stops the entity and the next message recovers it from the journal. States: <c>Active</c>, and
/// <c>Draining</c> when a snapshot is due while events are being written: commands are stashed until the
/// write completes, so the snapshot equals the journal; older snapshots and events are then deleted. A queue
/// that has no events yet starts <c>Unlisted</c>: its first task or consumer asks Redis for a place among the
/// cluster's <c>ALLOCATOR_MAX_QUEUES</c> (<c>Admitting</c>, commands stashed); without one it is <c>Refused</c>:
/// it stores nothing, refuses and counts every task, and passivates once left alone.
/// </summary>
public sealed class QueueEntityActor : ReceivePersistentActor, IWithTimers
{
    private const string SweepTimer = "sweep";
    private readonly string _queue;
    private readonly AllocatorSettings _settings;
    private readonly ISubscriber _publisher;
    private readonly IDatabase _database;
    private readonly AllocatorMetrics _metrics;
    private readonly IReadOnlyActorRegistry _registry;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly QueueState _state;
    private readonly QueueConsumers _consumers = new();
    private IActorRef _workers = ActorRefs.Nobody;
    private QueueOutbox _outbox = null!;
    private readonly GroupCommit _commit;
    private bool _writing;
    private int _writingEvents;
    private long _sinceSnapshot;
    private int _refused; // tasks refused since the last sweep (logged once a sweep)

    /// <summary>Creates the entity of <paramref name="queue"/>.</summary>
    public QueueEntityActor(string queue, AllocatorSettings settings, IConnectionMultiplexer redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry)
    {
        _queue = queue;
        _settings = settings;
        _publisher = redis.GetSubscriber();
        _database = redis.GetDatabase();
        _metrics = metrics;
        _registry = registry;
        _state = new QueueState(queue);
        _commit = new GroupCommit(settings.MaxBatchEvents, settings.MaxBatchBytes);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is QueueSnapshot snapshot) _state.Restore(snapshot);
        });
        Recover<QueueEventBatch>(b =>
        {
            foreach (var e in b.Events) _state.Apply(e);
        });
        Recover<RecoveryCompleted>(_ => Recovered());
        Active();
    }

    private void Active() => Serving(listed: true);

    // Not in the queues' set yet: the first task or consumer waits for a place in it.
    private void Unlisted() => Serving(listed: false);

    private void Serving(bool listed)
    {
        if (listed)
        {
            Command<SubmitTask>(Handle);
            Command<WorkerServesQueue>(Handle);
        }
        else
        {
            Command<SubmitTask>(_ => AskForPlace());
            Command<WorkerServesQueue>(_ => AskForPlace());
        }
        Command<ReportTaskProgress>(Handle);
        Command<WorkerLeftQueue>(Handle);
        Command<GrantSlots>(Handle);
        Command<WorkerRoomChanged>(Handle);
        Command<ReturnTask>(Handle);
        Command<Sweep>(_ => HandleSweep());
        Command<GetQueueStats>(_ => Sender.Tell(_state.Stats(_consumers.Count) with { Unwritten = _commit.Count + _writingEvents }));
        Command<GetQueueHistory>(q => Sender.Tell(new QueueHistory(_queue, _state.History(Math.Clamp(q.Limit, 0, AllocatorQueries.MaxHistoryLimit)))));
        Command<SaveSnapshotSuccess>(s =>
        {
            // Events up to the snapshot are in it; older snapshots are superseded.
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning("Queue {0}: snapshot failed: {1}", _queue, f.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("Queue {0}: deleting old events failed: {1}", _queue, f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("Queue {0}: deleting old snapshots failed: {1}", _queue, f.Cause.Message));
    }

    // Waits for the write under way, so that the state equals the journal when the snapshot is taken.
    private void Draining() => CommandAny(_ => Stash.Stash());

    private void Admitting()
    {
        Command<PlaceAnswered>(answer =>
        {
            if (answer.Admitted)
            {
                UpdateGauges();
                Become(Active);
            }
            else
            {
                _log.Warning("Queue {0} refused: the allocator holds ALLOCATOR_MAX_QUEUES ({1}) queues; its tasks are " +
                             "refused and counted", _queue, _settings.MaxQueues);
                Timers.Cancel(SweepTimer); // it has nothing to check, and its ticks would keep it from passivating
                Context.SetReceiveTimeout(_settings.IdleUnregistered);
                Become(Refused);
            }
            Stash.UnstashAll();
        });
        Command<PlaceUnknown>(failure =>
        {
            // The cap bounds memory; it is not worth refusing a task over. The journal write will tell if Redis is
            // really gone.
            _log.Warning("Queue {0}: could not check ALLOCATOR_MAX_QUEUES ({1}); taking the queue", _queue,
                failure.Cause.GetBaseException().Message);
            List();
            UpdateGauges();
            Become(Active);
            Stash.UnstashAll();
        });
        CommandAny(_ => Stash.Stash());
    }

    private void Refused()
    {
        Command<SubmitTask>(task => Refuse(task, RejectionReason.TooManyQueues,
            $"the allocator holds {_settings.MaxQueues} queues, its ALLOCATOR_MAX_QUEUES"));
        Command<GetQueueStats>(_ => Sender.Tell(_state.Stats(0)));
        Command<GetQueueHistory>(_ => Sender.Tell(new QueueHistory(_queue, [])));
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        // A worker that lists this queue keeps no slot here.
        Command<GrantSlots>(g => _workers.Tell(new SlotsReturned(g.Worker, _queue, g.Count, null)));
        CommandAny(_ => { }); // consumers, reports and sweeps of a queue that holds nothing
    }

    // One round trip decides, for the whole cluster, whether a new queue gets a place.
    private void AskForPlace()
    {
        Stash.Stash();
        _database.ScriptEvaluateAsync(AdmitQueueScript, [(RedisKey)_settings.QueuesKey], [_queue, _settings.MaxQueues])
            .PipeTo(Self, success: r => new PlaceAnswered((int)r == 1), failure: e => new PlaceUnknown(e));
        Become(Admitting);
    }

    private const string AdmitQueueScript = """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        return 1
        """;

    /// <summary>Props of the entity of <paramref name="queue"/>.</summary>
    public static Props Props(string queue, AllocatorSettings settings, IConnectionMultiplexer redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry) =>
        Akka.Actor.Props.Create(() => new QueueEntityActor(queue, settings, redis, metrics, registry));

    /// <inheritdoc />
    // The channel prefix keeps deployments that share one Redis apart; empty by default, so it is queue-{name}.
    public override string PersistenceId => "queue-" + _settings.Channels.Prefix + _queue;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override void PreStart()
    {
        // Both regions exist once any entity runs: they are registered before the node takes messages.
        _workers = _registry.Get<WorkerRegion>();
        _outbox = new QueueOutbox(_queue, _settings, _publisher, _metrics, _workers, _registry.Get<MetricsRecorderActor>());
        base.PreStart();
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        // Moved away or stopping: whichever node runs the entity next shows its gauges.
        _metrics.RemoveQueue(_queue);
        base.PostStop();
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Queue {0}: persisting {1} (#{2}) failed; the entity stops and recovers from the journal",
            _queue, @event.GetType().Name, sequenceNr);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Queue {0}: the journal rejected {1} (#{2}); restarting from the journal",
            _queue, @event.GetType().Name, sequenceNr);
        // The event was applied already; only the journal's view is trustworthy now.
        Context.Stop(Self);
    }

    private void Recovered()
    {
        _log.Info("Queue {0} recovered: {1} pending, {2} in flight, {3} events", _queue, _state.PendingCount,
            _state.InFlightCount, _state.EventCount);
        // The workers learn what they hold here from their next sync (WorkerServesQueue), which they repeat.
        Timers.StartPeriodicTimer(SweepTimer, Sweep.Instance, _settings.SweepInterval);
        if (_state.EventCount == 0)
        {
            Become(Unlisted); // its gauges wait for its place: a refused name gets no series
            return;
        }
        List();
        UpdateGauges();
    }

    private void Handle(SubmitTask task)
    {
        if (_state.PendingCount >= _settings.MaxPending && _state.Find(task.TaskId) is null)
        {
            Refuse(task, RejectionReason.QueueFull, $"queue {_queue} holds {_settings.MaxPending} waiting tasks");
            return;
        }
        var outcome = _state.Process(task, out var accepted);
        if (outcome == SubmitOutcome.Duplicate) _metrics.CountDuplicate(_queue);
        if (outcome == SubmitOutcome.Accepted)
        {
            Emit(accepted!, static () => { });
            Offer(_state.Find(accepted!.TaskId));
        }
        // The client's call (or the stream intake's entry) completes once what it asked for is in the journal: a
        // task it was told about survives the death of this node. Pub/sub has nobody to answer.
        if (!Sender.Equals(Context.System.DeadLetters))
        {
            var (client, reply) = (Sender, new TaskSubmitted(_queue, task.TaskId, outcome == SubmitOutcome.Accepted));
            AfterWritten(() => client.Tell(reply));
        }
        WriteIfIdle();
    }

    // Refused (the queue full, or no place for a new queue): the task is not taken, and the producer can know (a
    // client hears why; pub/sub counts it). Logged at most once a sweep, with how many were refused: a full queue
    // refuses many. A replayed message was counted when it was first taken.
    private void Refuse(SubmitTask task, RejectionReason reason, string why)
    {
        if (!task.Replayed) _metrics.CountRejection(ChannelKind.Tasks, reason);
        if (reason == RejectionReason.QueueFull && _refused++ == 0)
            _log.Warning("Queue {0} holds {1} waiting tasks, its ALLOCATOR_MAX_PENDING: new tasks are refused", _queue,
                _state.PendingCount);
        if (!Sender.Equals(Context.System.DeadLetters)) Sender.Tell(new TaskRefused(_queue, task.TaskId, why));
    }

    private void Handle(ReportTaskProgress report)
    {
        var now = AllocatorSettings.Now();
        var decision = _state.Process(report, now);
        if (decision.Ignored is { } reason)
        {
            // A replay's original was counted when it was first taken.
            if (!report.Replayed) _metrics.CountIgnoredReport(reason);
            return;
        }
        if (decision.Event is not { } e) return;
        var task = _state.Find(report.TaskId);
        var (name, holder) = (task?.TaskName ?? LabelValues.Unknown, task?.Worker);
        Emit(e, () => _outbox.Progressed(e, report, name, holder));
        WriteIfIdle();
    }

    // A worker's announcement, repeated while it is online: it serves the queue (with its room now), and asks what
    // it holds here. The answer waits for the write under way, so it comes after every assignment decided before.
    private void Handle(WorkerServesQueue serves)
    {
        var offer = _state.OfferFor(serves.Capabilities);
        if (_consumers.Upsert(serves, offer) is not { } added) return; // an incarnation that is gone
        if (added) UpdateGauges();
        var answer = new QueueSynced(serves.Worker, _queue, serves.Epoch, serves.Stamp, _state.HeldBy(serves.Worker), offer);
        AfterWritten(() => _workers.Tell(answer));
        Offer();
        WriteIfIdle();
    }

    // The worker gives slots: each takes the most urgent waiting task the worker can take; the rest go back.
    private void Handle(GrantSlots grant)
    {
        var worker = _consumers.Granted(grant);
        if (worker is null)
        {
            // Not (or no longer) a consumer here: a grant from a stale incarnation is dropped, any other returned.
            if (!_consumers.IsStale(grant))
                _workers.Tell(new SlotsReturned(grant.Worker, _queue, grant.Count, null));
            return;
        }
        var now = AllocatorSettings.Now();
        var used = 0;
        // A worker this grant filled hears with its last assignment what still waits here, so the slot it frees
        // next can come back; one with room left is offered again at once, below, not a journal write later.
        TaskOffer? next = null;
        while (used < grant.Count && _state.Allocate(grant.Worker, worker.Capabilities, now) is { } allocation)
        {
            used++;
            if (used == grant.Count && grant.Free <= 0) next = _state.OfferFor(worker.Capabilities);
            EmitAllocation(allocation, next);
        }
        worker.Told = next;
        var left = grant.Count - used;
        if (left > 0)
        {
            var returned = new SlotsReturned(grant.Worker, _queue, left, null);
            AfterWritten(() => _workers.Tell(returned));
        }
        Offer();
        WriteIfIdle();
    }

    private void Handle(WorkerRoomChanged room)
    {
        if (!_consumers.RoomChanged(room)) return;
        Offer();
    }

    private void Handle(ReturnTask returned)
    {
        if (_state.Process(returned, AllocatorSettings.Now()) is not { } requeued) return;
        _log.Info("Queue {0}: {1} no longer lists task {2}; it goes back to the queue", _queue, returned.Worker, returned.TaskId);
        EmitRequeue(requeued, release: false);
        Offer();
        WriteIfIdle();
    }

    private void Handle(WorkerLeftQueue left)
    {
        var now = AllocatorSettings.Now();
        foreach (var requeued in _state.Process(left, now)) EmitRequeue(requeued, release: false);
        _consumers.Remove(left.Worker);
        Offer();
        WriteIfIdle();
        UpdateGauges();
    }

    private void HandleSweep()
    {
        if (_refused > 1) _log.Warning("Queue {0}: {1} tasks refused since the last check, the queue being full", _queue, _refused);
        _refused = 0;
        var expired = _state.ExpiredAcknowledgements((long)_settings.AckTimeout.TotalMilliseconds, AllocatorSettings.Now());
        foreach (var requeued in expired) EmitRequeue(requeued, release: true);
        if (expired.Count > 0)
        {
            _log.Info("Queue {0}: {1} assignments not acknowledged in {2}; allocating them again", _queue,
                expired.Count, _settings.AckTimeout);
            Offer();
        }
        WriteIfIdle();
        UpdateGauges();
    }

    private void EmitRequeue(TaskRequeued requeued, bool release) => Emit(requeued, () => _outbox.Requeued(requeued, release));

    private void EmitAllocation(TaskAllocated allocation, TaskOffer? next)
    {
        var task = _state.Find(allocation.TaskId)!;
        var payload = AssignmentWriter.Write(task, _queue, allocation.Attempt, allocation.At);
        var waited = Math.Max(0, allocation.At - task.ArrivedAt);
        Emit(allocation, () => _outbox.Allocated(allocation, payload, waited, next));
    }

    // Tells workers what waits here: the least loaded ones with room, until their room covers the waiting tasks,
    // and the full ones what is most urgent here, so that a slot they free goes where it is needed most.
    private void Offer(QueuedTask? arrived = null)
    {
        foreach (var (worker, offer) in _consumers.Offers(_state, arrived))
            _workers.Tell(new TasksWaiting(worker, _queue, offer));
    }

    // Applied at once (the next message sees it); its effects (QueueOutbox) run once it is in the journal.
    private void Emit(IQueueEvent e, Action afterPersisted)
    {
        _state.Apply(e);
        _commit.Add(e, afterPersisted);
    }

    /// <summary>Runs <paramref name="action"/> once everything decided so far is in the journal.</summary>
    private void AfterWritten(Action action) => _commit.After(action);

    /// <summary>Starts a write of what collected, unless one is under way (its completion starts the next).</summary>
    private void WriteIfIdle()
    {
        if (_writing || _commit.IsEmpty) return;
        var (events, actions) = _commit.Take();
        if (events.Count == 0)
        {
            // Only waits with no event of their own (replies): what they waited for is written.
            foreach (var action in actions) action();
            return;
        }
        var batch = new QueueEventBatch(events);
        _writing = true;
        _writingEvents = batch.Events.Count;
        PersistAsync(batch, written =>
        {
            _writing = false;
            _writingEvents = 0;
            foreach (var action in actions) action();
            _sinceSnapshot += written.Events.Count;
            var due = Math.Max(_settings.SnapshotEvery, _state.SnapshotSize);
            if (_sinceSnapshot >= due)
            {
                // The state may be snapshotted only when it is all in the journal: at a write that left nothing
                // behind. Under load that moment may not come; past twice the due point, the queue stops taking
                // commands until the rest is written (a pause of one write, which the wait avoids most of the time).
                if (_commit.Count == 0)
                {
                    _sinceSnapshot = 0;
                    SaveSnapshot(_state.ToSnapshot());
                    Stash.UnstashAll();
                    Become(Active);
                    WriteIfIdle(); // replies that waited for this write
                    return;
                }
                if (_sinceSnapshot >= 2 * due)
                {
                    WriteIfIdle();
                    Become(Draining);
                    return;
                }
            }
            WriteIfIdle();
        });
    }

    private void UpdateGauges() => _outbox.Gauges(_state.PendingCount, _consumers.Count);

    // A queue with events is in the set already, unless Redis lost it: then it is put back, over the cap if need be,
    // since its tasks are stored.
    private void List() => _database.SetAdd(_settings.QueuesKey, _queue, CommandFlags.FireAndForget);

    private sealed record PlaceAnswered(bool Admitted) : INoSerializationVerificationNeeded;

    private sealed record PlaceUnknown(Exception Cause) : INoSerializationVerificationNeeded;

    /// <summary>The periodic check of acknowledgement deadlines.</summary>
    private sealed class Sweep : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sweep Instance = new();
    }
}
