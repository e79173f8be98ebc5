using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// What a queue does with each command, free of persistence and of the actor: it decides with the queue's
/// <see cref="QueueState"/> and its view of the workers (<see cref="QueueConsumers"/>), applies each event at once
/// (the next command sees it), and leaves it in the <see cref="GroupCommit"/> with what must follow once it is stored
/// (<see cref="QueueOutbox"/>). It offers what waits to the least loaded worker with room and allocates only on
/// slots the workers grant. The entity writes the group commit after each command. Single-threaded.
/// </summary>
public sealed class QueueAllocation
{
    private readonly string _queue;
    private readonly AllocatorSettings _settings;
    private readonly QueueState _state;
    private readonly QueueConsumers _consumers = new();
    private readonly GroupCommit _commit;
    private readonly QueueOutbox _outbox;
    private readonly AllocatorMetrics _metrics;
    private readonly IActorRef _workers;
    private readonly ILoggingAdapter _log;
    private int _refused; // tasks refused since the last sweep (logged once a sweep)
    private readonly HeardWorkers _heard;

    /// <summary>Creates the allocation of a queue.</summary>
    /// <param name="state">The queue's domain state (recovered already, or being recovered).</param>
    /// <param name="commit">Where events wait for the journal.</param>
    /// <param name="outbox">What is done once an event is stored.</param>
    /// <param name="settings">Limits and timeouts.</param>
    /// <param name="metrics">The allocator's metrics.</param>
    /// <param name="workers">The worker region.</param>
    /// <param name="log">The entity's log.</param>
    public QueueAllocation(QueueState state, GroupCommit commit, QueueOutbox outbox, AllocatorSettings settings,
        AllocatorMetrics metrics, IActorRef workers, ILoggingAdapter log)
    {
        _queue = state.Queue;
        _heard = new HeardWorkers((long)settings.SweepInterval.TotalMilliseconds);
        _state = state;
        _commit = commit;
        _outbox = outbox;
        _settings = settings;
        _metrics = metrics;
        _workers = workers;
        _log = log;
    }

    /// <summary>The queue's statistics, with what waits for the journal.</summary>
    public QueueStats Stats() => _state.Stats(_consumers.Count) with { Unwritten = _commit.Unwritten };

    /// <summary>Decides a submission; null when it is refused (the queue full), with why in
    /// <paramref name="refusal"/>.</summary>
    public SubmitOutcome? Submit(SubmitTask task, out string? refusal)
    {
        refusal = null;
        if (_state.PendingCount >= _settings.MaxPending && _state.Find(task.TaskId) is null)
        {
            Refused(task, RejectionReason.QueueFull);
            refusal = $"queue {_queue} holds {_settings.MaxPending} waiting tasks";
            return null;
        }
        var outcome = _state.Process(task, out var accepted);
        if (outcome == SubmitOutcome.Duplicate) _metrics.CountDuplicate(_queue);
        if (outcome == SubmitOutcome.Accepted)
        {
            Emit(accepted!, static () => { });
            Offer(_state.Find(accepted!.TaskId));
        }
        return outcome;
    }

    /// <summary>Counts a refused task (the queue full, or no place for a new queue); a full queue is logged at most
    /// once a sweep, with how many it refused. A replayed message was counted when it was first taken.</summary>
    public void Refused(SubmitTask task, RejectionReason reason)
    {
        if (!task.Replayed) _metrics.CountRejection(ChannelKind.Tasks, reason);
        if (reason == RejectionReason.QueueFull && _refused++ == 0)
            _log.Warning("Queue {0} holds {1} waiting tasks, its ALLOCATOR_MAX_PENDING: new tasks are refused", _queue,
                _state.PendingCount);
    }

    /// <summary>Runs <paramref name="action"/> once everything decided so far is in the journal.</summary>
    public void AfterWritten(Action action) => _commit.After(action);

    /// <summary>A worker's report. One taken straight from the wire (<see cref="ReportTaskProgress.Direct"/>) passed
    /// no worker entity: the queue tells the worker's entity that the worker spoke, and frees the slot of an outcome
    /// at once, as the entity itself would have done on the report.</summary>
    public void Report(ReportTaskProgress report)
    {
        var decision = _state.Process(report, AllocatorSettings.Now());
        if (decision.Ignored is { } reason)
        {
            // A replay's original was counted when it was first taken.
            if (!report.Replayed) _metrics.CountIgnoredReport(reason);
            return;
        }
        if (decision.Event is { } e)
        {
            var task = _state.Find(report.TaskId);
            var (name, holder) = (task?.TaskName ?? LabelValues.Unknown, task?.Worker);
            if (report.Direct && e is TaskSucceeded or TaskFailed && holder == report.Worker)
                _workers.Tell(new TaskReleasedFromWorker(report.Worker, report.TaskId, _queue));
            Emit(e, () => _outbox.Progressed(e, report, name, holder));
        }
        if (report.Direct && !report.Replayed && _heard.Heard(report.Worker, Environment.TickCount64))
            TellHeard(report.Worker);
    }

    private void TellHeard(string worker) => _workers.Tell(new WorkerHeard(worker, _queue, _state.StartedCount(worker)));

    /// <summary>A worker's announcement, repeated while it is online: it serves the queue (with its room now), and
    /// asks what it holds here. The answer waits for the write under way, so it comes after every assignment
    /// decided before.</summary>
    public void Serve(WorkerServesQueue serves)
    {
        var offer = _state.OfferFor(serves.Capabilities);
        if (_consumers.Upsert(serves, offer) is not { } added) return; // an incarnation that is gone
        if (added) Gauges();
        var answer = new QueueSynced(serves.Worker, _queue, serves.Epoch, serves.Stamp, _state.HeldBy(serves.Worker), offer);
        AfterWritten(() => _workers.Tell(answer));
        Offer();
    }

    /// <summary>The worker gives slots: each takes the most urgent waiting task the worker can take; the rest go
    /// back.</summary>
    public void Grant(GrantSlots grant)
    {
        if (_consumers.Granted(grant) is not { } worker)
        {
            // Not (or no longer) a consumer here: a grant from a stale incarnation is dropped, any other returned.
            if (!_consumers.IsStale(grant)) _workers.Tell(new SlotsReturned(grant.Worker, _queue, grant.Count, null));
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
        if (grant.Count - used is var left and > 0)
        {
            var returned = new SlotsReturned(grant.Worker, _queue, left, null);
            AfterWritten(() => _workers.Tell(returned));
        }
        Offer();
    }

    /// <summary>A worker's room changed (full, or room again).</summary>
    public void RoomChanged(WorkerRoomChanged room)
    {
        if (_consumers.RoomChanged(room)) Offer();
    }

    /// <summary>A worker entity gives back a task its worker does not run.</summary>
    public void Return(ReturnTask returned)
    {
        if (_state.Process(returned, AllocatorSettings.Now()) is not { } requeued) return;
        _log.Info("Queue {0}: {1} no longer lists task {2}; it goes back to the queue", _queue, returned.Worker, returned.TaskId);
        EmitRequeue(requeued, release: false);
        Offer();
    }

    /// <summary>A worker left the queue: what it held goes back.</summary>
    public void Left(WorkerLeftQueue left)
    {
        foreach (var requeued in _state.Process(left, AllocatorSettings.Now())) EmitRequeue(requeued, release: false);
        _consumers.Remove(left.Worker);
        Offer();
        Gauges();
    }

    /// <summary>The periodic check: allocations not acknowledged in time go back, and the gauges are set.</summary>
    public void Sweep()
    {
        foreach (var worker in _heard.TakeDue(Environment.TickCount64)) TellHeard(worker);
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
        Gauges();
    }

    /// <summary>Sets the queue's gauges.</summary>
    public void Gauges() => _outbox.Gauges(_state.PendingCount, _consumers.Count);

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

    // Applied at once (the next command sees it); its effects (QueueOutbox) run once it is in the journal.
    private void Emit(IQueueEvent e, Action afterStored)
    {
        _state.Apply(e);
        _commit.Add(e, afterStored);
    }
}
