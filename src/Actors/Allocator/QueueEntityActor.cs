using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Hosting;
using Akka.Persistence;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// One queue of the allocator, a sharded persistent entity (persistence id <c>queue-{name}</c>): it glues the
/// queue's domain to persistence and messaging. <see cref="QueueAllocation"/> decides each command with the
/// <see cref="QueueState"/> and applies its events at once; the entity stores them by group commit (while one
/// journal write is under way new events collect, and go as one <see cref="QueueEventBatch"/> when it completes:
/// one write per round trip, however busy the queue), and what leaves the queue (<see cref="QueueOutbox"/>) happens
/// only once its event is stored, so nothing is promised that a crash could forget. A persist failure stops the
/// entity and the next message recovers it from the journal. States: <c>Active</c>; <c>Draining</c> when a
/// snapshot is overdue while events are being written (<see cref="SnapshotSchedule"/>): commands are stashed until
/// the write completes, so the snapshot equals the journal, and older snapshots and events are then deleted. A
/// queue with no events yet starts <c>Unlisted</c>: its first task or consumer asks for a place among the cluster's
/// <c>ALLOCATOR_MAX_QUEUES</c> (<see cref="IAllocatorRedis.AdmitQueueAsync"/>; <c>Admitting</c>, commands stashed); without one it
/// is <c>Refused</c>: it stores nothing, refuses and counts every task, and passivates once left alone.
/// </summary>
public sealed class QueueEntityActor : ReceivePersistentActor, IWithTimers
{
    private const string SweepTimer = "sweep";
    private readonly string _queue;
    private readonly AllocatorSettings _settings;
    private readonly IAllocatorRedis _redis;
    private readonly AllocatorMetrics _metrics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly QueueState _state;
    private readonly GroupCommit _commit;
    private readonly SnapshotSchedule _snapshots;
    private readonly QueueAllocation _allocation;

    /// <summary>Creates the entity of <paramref name="queue"/>.</summary>
    public QueueEntityActor(string queue, AllocatorSettings settings, IAllocatorRedis redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry)
    {
        _queue = queue;
        _settings = settings;
        _redis = redis;
        _metrics = metrics;
        _state = new QueueState(queue);
        _commit = new GroupCommit(settings.MaxBatchEvents, settings.MaxBatchBytes);
        _snapshots = new SnapshotSchedule(settings.SnapshotEvery);
        // Both regions exist once any entity runs: they are registered before the node takes messages.
        var workers = registry.Get<WorkerRegion>();
        var outbox = new QueueOutbox(queue, redis, metrics, workers, registry.Get<MetricsRecorderActor>());
        _allocation = new QueueAllocation(_state, _commit, outbox, settings, metrics, workers, _log);

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
            Command<SubmitTask>(Submit);
            Command<WorkerServesQueue>(s => { _allocation.Serve(s); WriteIfIdle(); });
        }
        else
        {
            Command<SubmitTask>(_ => AskForPlace());
            Command<WorkerServesQueue>(_ => AskForPlace());
        }
        Command<ReportTaskProgress>(r => { _allocation.Report(r); WriteIfIdle(); });
        Command<WorkerLeftQueue>(l => { _allocation.Left(l); WriteIfIdle(); });
        Command<GrantSlots>(g => { _allocation.Grant(g); WriteIfIdle(); });
        Command<WorkerRoomChanged>(r => { _allocation.RoomChanged(r); WriteIfIdle(); });
        Command<ReturnTask>(r => { _allocation.Return(r); WriteIfIdle(); });
        Command<Sweep>(_ => { _allocation.Sweep(); WriteIfIdle(); });
        Command<GetQueueStats>(_ => Sender.Tell(_allocation.Stats()));
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
                Admitted();
                return;
            }
            _log.Warning("Queue {0} refused: the allocator holds ALLOCATOR_MAX_QUEUES ({1}) queues; its tasks are " +
                         "refused and counted", _queue, _settings.MaxQueues);
            Timers.Cancel(SweepTimer); // it has nothing to check, and its ticks would keep it from passivating
            Context.SetReceiveTimeout(_settings.IdleUnregistered);
            Become(Refused);
            Stash.UnstashAll();
        });
        Command<PlaceUnknown>(failure =>
        {
            // The cap bounds memory; it is not worth refusing a task over. The journal write will tell if Redis is
            // really gone.
            _log.Warning("Queue {0}: could not check ALLOCATOR_MAX_QUEUES ({1}); taking the queue", _queue,
                failure.Cause.GetBaseException().Message);
            _redis.ListQueue(_queue);
            Admitted();
        });
        CommandAny(_ => Stash.Stash());
    }

    private void Admitted()
    {
        _allocation.Gauges();
        Become(Active);
        Stash.UnstashAll();
    }

    private void Refused()
    {
        Command<SubmitTask>(task =>
        {
            _allocation.Refused(task, RejectionReason.TooManyQueues);
            Refuse(task, $"the allocator holds {_settings.MaxQueues} queues, its ALLOCATOR_MAX_QUEUES");
        });
        Command<GetQueueStats>(_ => Sender.Tell(_state.Stats(0)));
        Command<GetQueueHistory>(_ => Sender.Tell(new QueueHistory(_queue, [])));
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(PoisonPill.Instance)));
        Command<GrantSlots>(_allocation.Grant); // a worker that lists this queue is no consumer: its slots go back
        CommandAny(_ => { }); // consumers, reports and sweeps of a queue that holds nothing
    }

    // One round trip decides, for the whole cluster, whether a new queue gets a place.
    private void AskForPlace()
    {
        Stash.Stash();
        _redis.AdmitQueueAsync(_queue, _settings.MaxQueues)
            .PipeTo(Self, success: admitted => new PlaceAnswered(admitted), failure: e => new PlaceUnknown(e));
        Become(Admitting);
    }

    /// <summary>Props of the entity of <paramref name="queue"/>.</summary>
    public static Props Props(string queue, AllocatorSettings settings, IAllocatorRedis redis,
        AllocatorMetrics metrics, IReadOnlyActorRegistry registry) =>
        Akka.Actor.Props.Create(() => new QueueEntityActor(queue, settings, redis, metrics, registry));

    /// <inheritdoc />
    // The channel prefix keeps deployments that share one Redis apart; empty by default, so it is queue-{name}.
    public override string PersistenceId => "queue-" + _settings.Channels.Prefix + _queue;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override void PostStop()
    {
        // Moved away or stopping: whichever node runs the entity next shows its gauges.
        _metrics.RemoveQueue(_queue);
        base.PostStop();
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
        _redis.ListQueue(_queue);
        _allocation.Gauges();
    }

    private void Submit(SubmitTask task)
    {
        if (_allocation.Submit(task, out var refusal) is not { } outcome)
        {
            Refuse(task, refusal!);
            return;
        }
        // The client's call (or the stream intake's entry) completes once what it asked for is in the journal: a
        // task it was told about survives the death of this node. Pub/sub has nobody to answer.
        if (HasCaller)
        {
            var (client, reply) = (Sender, new TaskSubmitted(_queue, task.TaskId, outcome == SubmitOutcome.Accepted));
            _allocation.AfterWritten(() => client.Tell(reply));
        }
        WriteIfIdle();
    }

    private bool HasCaller => !Sender.Equals(Context.System.DeadLetters);

    // Refused (the queue full, or no place for a new queue): the task is not taken, and the producer can know (a
    // client hears why; pub/sub was counted).
    private void Refuse(SubmitTask task, string why)
    {
        if (HasCaller) Sender.Tell(new TaskRefused(_queue, task.TaskId, why));
    }

    /// <summary>Starts a write of what collected, unless one is under way (its completion starts the next).</summary>
    private void WriteIfIdle()
    {
        if (!_commit.TryStart(out var events, out var actions)) return;
        if (events.Count == 0)
        {
            // Only waits with no event of their own (replies): what they waited for is written.
            foreach (var action in actions) action();
            return;
        }
        var sent = Stopwatch.GetTimestamp();
        PersistAsync(new QueueEventBatch(events), written =>
        {
            _metrics.ObserveJournalWrite(Stopwatch.GetElapsedTime(sent));
            _commit.Written();
            foreach (var action in actions) action();
            switch (_snapshots.Written(written.Events.Count, _commit.Count, _state.SnapshotSize))
            {
                case SnapshotStep.Take:
                    SaveSnapshot(_state.ToSnapshot());
                    Stash.UnstashAll();
                    Become(Active);
                    break;
                case SnapshotStep.Drain:
                    WriteIfIdle();
                    Become(Draining);
                    return;
            }
            WriteIfIdle(); // what collected meanwhile, or replies that waited for this write
        });
    }

    private sealed record PlaceAnswered(bool Admitted) : INoSerializationVerificationNeeded;

    private sealed record PlaceUnknown(Exception Cause) : INoSerializationVerificationNeeded;

    // The periodic check of acknowledgement deadlines.
    private sealed class Sweep : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Sweep Instance = new();
    }
}
