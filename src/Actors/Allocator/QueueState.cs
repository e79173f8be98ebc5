using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The domain of one queue, free of actors: commands are decided into events (<c>Process…</c>, which change no
/// task; they count duplicates, and the ack sweep moves its position) and events change the tasks
/// (<see cref="Apply"/>), the same way live and during recovery. Its parts: the waiting tasks
/// (<see cref="PendingTasks"/>), those in flight (<see cref="InFlightTasks"/>), the finished ids
/// (<see cref="FinishedTasks"/>) and the history read model (<see cref="HistoryLog"/>). The state is mutable on purpose: a queue applies tens of thousands of events a second, and
/// copying a mailbox per event would cost more than the decision. Which workers serve the queue is not part of
/// it (<see cref="QueueConsumers"/>): workers announce themselves again after a restart. Acknowledgement deadlines
/// run on a monotonic clock, counted from when this state learned of the allocation (live or in recovery), so a
/// step of the wall clock never requeues or stalls anything.
/// </summary>
public sealed class QueueState
{
    private readonly PendingTasks _pending = new();
    private readonly InFlightTasks _inFlight = new();
    private readonly FinishedTasks _finished;
    private readonly HistoryLog _history;
    private readonly Func<long> _clockMs;
    private long _nextSequence;

    /// <summary>Creates an empty queue.</summary>
    /// <param name="queue">Its name.</param>
    /// <param name="finishedMemory">Finished task ids remembered (so they are never allocated again).</param>
    /// <param name="historyCapacity">History entries kept for queries.</param>
    /// <param name="clockMs">The monotonic clock of acknowledgement deadlines (default
    /// <see cref="Environment.TickCount64"/>).</param>
    public QueueState(string queue, int finishedMemory = 100_000, int historyCapacity = AllocatorQueries.MaxHistoryLimit, Func<long>? clockMs = null)
    {
        Queue = queue;
        _finished = new FinishedTasks(finishedMemory);
        _history = new HistoryLog(historyCapacity);
        _clockMs = clockMs ?? (static () => Environment.TickCount64);
    }

    /// <summary>The queue's name.</summary>
    public string Queue { get; }

    /// <summary>Tasks waiting.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Tasks allocated and not finished.</summary>
    public int InFlightCount => _inFlight.Count;

    /// <summary>Tasks a snapshot holds: waiting, in flight, and finished ids remembered.</summary>
    public int SnapshotSize => _pending.Count + _inFlight.Count + _finished.Count;

    /// <summary>Events applied (the journal's sequence number).</summary>
    public long EventCount { get; private set; }

    /// <summary>Tasks accepted.</summary>
    public long Accepted { get; private set; }

    /// <summary>Allocations made.</summary>
    public long Allocated { get; private set; }

    /// <summary>Tasks succeeded.</summary>
    public long Succeeded { get; private set; }

    /// <summary>Tasks failed.</summary>
    public long Failed { get; private set; }

    /// <summary>Requeues.</summary>
    public long Requeued { get; private set; }

    /// <summary>Duplicates ignored (not event-sourced: a metric of this incarnation).</summary>
    public long Duplicates { get; private set; }

    /// <summary>A waiting or in-flight task by id.</summary>
    public QueuedTask? Find(string taskId) => _inFlight.TryGet(taskId, out var t) ? t : _pending.Find(taskId);

    /// <summary>The in-flight tasks.</summary>
    public IEnumerable<QueuedTask> InFlight => _inFlight.Tasks;

    /// <summary>The waiting tasks, most urgent first.</summary>
    public IEnumerable<QueuedTask> Pending => _pending.InOrder();

    /// <summary>Task ids <paramref name="worker"/> holds here now.</summary>
    public IReadOnlyList<string> HeldBy(string worker) => _inFlight.HeldBy(worker);

    /// <summary>How many tasks <paramref name="worker"/> holds here now.</summary>
    public int HeldCount(string worker) => _inFlight.HeldCount(worker);

    /// <summary>How many of the tasks <paramref name="worker"/> holds here it started.</summary>
    public int StartedCount(string worker) => _inFlight.HeldTasks(worker).Count(t => t.Started);

    /// <summary>What waits here for a worker with <paramref name="capabilities"/>, or null.</summary>
    public TaskOffer? OfferFor(IReadOnlyDictionary<string, CapabilityValue> capabilities) => _pending.OfferFor(capabilities);

    /// <summary>
    /// Decides a submission: an acceptance, a duplicate (its id is pending, in flight or finished; counted here), or
    /// a replayed message of a task the queue knows (<see cref="SubmitOutcome.Known"/>, not counted).
    /// </summary>
    /// <param name="command">The submission.</param>
    /// <param name="accepted">The acceptance to persist, when it is one.</param>
    public SubmitOutcome Process(SubmitTask command, out TaskAccepted? accepted)
    {
        accepted = null;
        if (_pending.Contains(command.TaskId) || _inFlight.Contains(command.TaskId) || _finished.Contains(command.TaskId))
        {
            if (command.Replayed) return SubmitOutcome.Known;
            Duplicates++;
            return SubmitOutcome.Duplicate;
        }
        accepted = new TaskAccepted(command.TaskId, command.TaskName, command.TaskData, command.Priority,
            command.Requires, command.ArrivedAt);
        return SubmitOutcome.Accepted;
    }

    /// <summary>
    /// Decides a worker's report. <c>received</c> and <c>started</c> count from the current holder only. The first
    /// <c>succeeded</c>/<c>failed</c> from any worker that held an attempt finishes the task (the work was done,
    /// even if the task was taken back in the meantime); a report from a worker that never held it, or about a
    /// task that is finished, changes nothing and says why.
    /// </summary>
    public ReportDecision Process(ReportTaskProgress report, double now)
    {
        var task = Find(report.TaskId);
        if (task is null)
            return new ReportDecision(null, _finished.Contains(report.TaskId) ? IgnoredReport.AlreadyFinished : IgnoredReport.UnknownTask);
        if (!task.HeldOnceBy(report.Worker)) return new ReportDecision(null, IgnoredReport.NotHolder);
        var holder = task.Worker == report.Worker;
        IQueueEvent? e = report.Progress switch
        {
            TaskProgress.Received when holder && !task.Acknowledged => new TaskAcknowledged(task.TaskId, report.Worker, now),
            TaskProgress.Started when holder && !task.Started => new TaskStarted(task.TaskId, report.Worker, now),
            TaskProgress.Succeeded => new TaskSucceeded(task.TaskId, report.Worker, report.Runtime, now),
            TaskProgress.Failed => new TaskFailed(task.TaskId, report.Worker, report.Runtime,
                report.Exception ?? TaskStatusParser.UnknownException, now),
            _ => null,
        };
        return new ReportDecision(e, null);
    }

    /// <summary>Decides what a worker's departure returns to the queue (its unfinished tasks, oldest first).</summary>
    public IReadOnlyList<TaskRequeued> Process(WorkerLeftQueue left, double now) =>
        _inFlight.HeldTasks(left.Worker).Select(t => new TaskRequeued(t.TaskId, left.Worker, left.Reason, now)).ToList();

    /// <summary>Decides a worker entity's giving back of one task: a requeue when that worker holds it now.</summary>
    public TaskRequeued? Process(ReturnTask returned, double now) =>
        _inFlight.TryGet(returned.TaskId, out var t) && t.Worker == returned.Worker
            ? new TaskRequeued(t.TaskId, returned.Worker, returned.Reason, now)
            : null;

    /// <summary>Decides which allocations waited longer than <paramref name="ackTimeoutMs"/> (monotonic) for their
    /// acknowledgement.</summary>
    public IReadOnlyList<TaskRequeued> ExpiredAcknowledgements(long ackTimeoutMs, double now) =>
        // Moves the sweep position on (bookkeeping, not domain state): each allocation expires once.
        _inFlight.Unacknowledged(ackTimeoutMs, _clockMs()) is { } expired
            ? expired.Select(t => new TaskRequeued(t.TaskId, t.Worker!, RequeueReason.AckTimeout, now)).ToList()
            : [];

    /// <summary>Decides the allocation of one granted slot of <paramref name="worker"/>: its most urgent waiting
    /// task that <paramref name="capabilities"/> meet, or null when none waits.</summary>
    public TaskAllocated? Allocate(string worker, IReadOnlyDictionary<string, CapabilityValue> capabilities, double now) =>
        _pending.BestFor(capabilities) is { } task ? new TaskAllocated(task.TaskId, worker, task.Attempts + 1, now) : null;

    /// <summary>Applies one event (live or during recovery).</summary>
    public void Apply(IQueueEvent e)
    {
        EventCount++;
        switch (e)
        {
            case TaskAccepted a:
                _pending.Enqueue(new QueuedTask(a, _nextSequence));
                _nextSequence++;
                Accepted++;
                break;
            case TaskAllocated a:
                if (Find(a.TaskId) is not { } task) return; // unknown: nothing to record either
                _pending.Remove(a.TaskId);
                _inFlight.Remove(a.TaskId, out _);
                task.AllocateTo(a.Worker, a.Attempt, a.At);
                _inFlight.Add(task, _clockMs());
                Allocated++;
                break;
            case TaskAcknowledged a:
                if (_inFlight.TryGet(a.TaskId, out var acked)) acked.Acknowledge();
                break;
            case TaskStarted s:
                if (_inFlight.TryGet(s.TaskId, out var started)) started.Start();
                break;
            case TaskSucceeded s:
                Finish(s.TaskId);
                Succeeded++;
                break;
            case TaskFailed f:
                Finish(f.TaskId);
                Failed++;
                break;
            case TaskRequeued r:
                if (_inFlight.Remove(r.TaskId, out var back))
                {
                    back.TakeBack();
                    // Its original sequence puts it ahead of every newer task of its priority.
                    _pending.Enqueue(back);
                }
                Requeued++;
                break;
        }
        _history.Record(EventCount, e);
    }

    /// <summary>The statistics (SPEC §4.2), with the number of workers serving the queue now.</summary>
    public QueueStats Stats(int consumers)
    {
        var byPriority = new SortedDictionary<int, int>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
        for (var p = PriorityMailbox<QueuedTask>.Levels - 1; p >= 0; p--)
            if (_pending.CountAt(p) is var n and > 0) byPriority[p] = n;
        return new QueueStats(Queue, byPriority, PendingCount, consumers, InFlightCount, Accepted, Allocated,
            Succeeded, Failed, Requeued, Duplicates);
    }

    /// <summary>The newest history entries, newest first.</summary>
    public IReadOnlyList<HistoryEntry> History(int limit) => _history.Newest(limit);

    /// <summary>The whole state as a snapshot.</summary>
    public QueueSnapshot ToSnapshot() => new(
        _pending.InOrder().Select(t => t.ToSnapshot()).ToList(),
        _inFlight.Tasks.OrderBy(t => t.Sequence).Select(t => t.ToSnapshot()).ToList(),
        _finished.Ids.ToList(), _nextSequence, EventCount, Accepted, Allocated, Succeeded, Failed, Requeued,
        _history.Entries.ToList());

    /// <summary>Restores the state of a snapshot (on an empty state, before replaying newer events). Unacknowledged
    /// allocations get a whole ack timeout from now.</summary>
    public void Restore(QueueSnapshot s)
    {
        foreach (var t in s.Pending) _pending.Enqueue(QueuedTask.FromSnapshot(t));
        var nowMs = _clockMs();
        foreach (var t in s.InFlight.OrderBy(t => t.AllocatedAt)) _inFlight.Add(QueuedTask.FromSnapshot(t), nowMs);
        foreach (var id in s.Finished) _finished.Remember(id);
        foreach (var h in s.History) _history.Restore(h);
        _nextSequence = s.NextSequence;
        EventCount = s.EventCount;
        (Accepted, Allocated, Succeeded, Failed, Requeued) = (s.Accepted, s.Allocated, s.Succeeded, s.Failed, s.Requeued);
    }

    private void Finish(string taskId)
    {
        if (!_inFlight.Remove(taskId, out _)) _pending.Remove(taskId);
        _finished.Remember(taskId);
    }
}
