using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>A task of a queue, waiting or in flight.</summary>
public sealed class QueuedTask
{
    /// <summary>Creates a task from its acceptance.</summary>
    public QueuedTask(TaskAccepted accepted, long sequence)
    {
        TaskId = accepted.TaskId;
        TaskName = accepted.TaskName;
        TaskData = accepted.TaskData;
        Priority = accepted.Priority;
        Requires = accepted.Requires;
        ArrivedAt = accepted.At;
        Sequence = sequence;
        RequirementKey = PendingTasks.KeyOf(accepted.Requires);
    }

    /// <summary>The task id.</summary>
    public string TaskId { get; }

    /// <summary>The task name.</summary>
    public string TaskName { get; }

    /// <summary>The data as JSON text.</summary>
    public string TaskData { get; }

    /// <summary>0-9.</summary>
    public int Priority { get; }

    /// <summary>Required capabilities.</summary>
    public IReadOnlyDictionary<string, CapabilityValue>? Requires { get; }

    /// <summary>Arrival (Unix seconds).</summary>
    public double ArrivedAt { get; }

    /// <summary>Arrival order in the queue.</summary>
    public long Sequence { get; }

    /// <summary>The key of its requirements (<see cref="PendingTasks.KeyOf"/>).</summary>
    public string RequirementKey { get; }

    /// <summary>Every worker that held an attempt of it: their reports count, a stranger's do not.</summary>
    public List<string> Holders { get; } = new(1);

    /// <summary>Deliveries so far.</summary>
    public int Attempts { get; set; }

    /// <summary>The holder while in flight.</summary>
    public string? Worker { get; set; }

    /// <summary>Whether the holder acknowledged it.</summary>
    public bool Acknowledged { get; set; }

    /// <summary>Whether the holder started it.</summary>
    public bool Started { get; set; }

    /// <summary>Last allocation time.</summary>
    public double AllocatedAt { get; set; }
}

/// <summary>What became of a submitted task.</summary>
public enum SubmitOutcome
{
    /// <summary>New: accepted.</summary>
    Accepted,

    /// <summary>Its id is pending, in flight, or finished, and it is a publication of its own: ignored and counted.</summary>
    Duplicate,

    /// <summary>A replayed message of a task the queue knows (<see cref="IPubSubCommand.Replayed"/>): ignored, not
    /// counted, since it repeats a publication that was taken already.</summary>
    Known,
}

/// <summary>Why a worker's report changed nothing; the <c>reason</c> label of the ignored-reports counter.</summary>
public static class IgnoredReport
{
    /// <summary>The reporting worker never held an attempt of the task.</summary>
    public const string NotHolder = "not_holder";

    /// <summary>The task had already succeeded or failed (another attempt's report, or a repeat).</summary>
    public const string AlreadyFinished = "already_finished";

    /// <summary>The queue does not know the task at all.</summary>
    public const string UnknownTask = "unknown_task";
}

/// <summary>What a worker's report decides: an event to persist, or the reason it is ignored (or neither, for a
/// harmless repeat such as a second <c>received</c>).</summary>
/// <param name="Event">The event, or null.</param>
/// <param name="Ignored">The ignored-report reason, or null.</param>
public readonly record struct ReportDecision(IQueueEvent? Event, string? Ignored);

/// <summary>
/// The domain of one queue, free of actors: commands are decided into events (<c>Process…</c>, which never
/// change the state) and events change the state (<see cref="Apply"/>), the same way live and during
/// recovery. The state is mutable on purpose: a queue applies tens of thousands of events a second, and
/// copying a mailbox per event would cost more than the decision. Which workers serve the queue is not part of
/// it (<see cref="QueueConsumers"/>): workers announce themselves again after a restart. Acknowledgement deadlines
/// run on a monotonic clock, counted from when this state learned of the allocation (live or in recovery), so a
/// step of the wall clock never requeues or stalls anything.
/// </summary>
public sealed class QueueState
{
    private readonly PendingTasks _pending = new();
    private readonly Dictionary<string, QueuedTask> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _heldBy = new(StringComparer.Ordinal);
    private readonly HashSet<string> _finished = new(StringComparer.Ordinal);
    private readonly Queue<string> _finishedOrder = new();
    private readonly Queue<HistoryEntry> _history = new();
    // Allocations waiting for their acknowledgement, oldest first (monotonic ms): the timeout is the same for all,
    // so a FIFO sweep finds the expired ones without a timer per task.
    private readonly Queue<(long AtMs, string TaskId, int Attempt)> _awaitingAck = new();
    private readonly Func<long> _clockMs;
    private readonly int _finishedMemory;
    private readonly int _historyCapacity;
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
        _finishedMemory = finishedMemory;
        _historyCapacity = historyCapacity;
        _clockMs = clockMs ?? (static () => Environment.TickCount64);
    }

    /// <summary>The queue's name.</summary>
    public string Queue { get; }

    /// <summary>Tasks waiting.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Tasks allocated and not finished.</summary>
    public int InFlightCount => _inFlight.Count;

    /// <summary>Tasks a snapshot holds: waiting, in flight, and finished ids remembered.</summary>
    public int SnapshotSize => _pending.Count + _inFlight.Count + _finishedOrder.Count;

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
    public QueuedTask? Find(string taskId) => _inFlight.TryGetValue(taskId, out var t) ? t : _pending.Find(taskId);

    /// <summary>The in-flight tasks.</summary>
    public IEnumerable<QueuedTask> InFlight => _inFlight.Values;

    /// <summary>The waiting tasks, most urgent first.</summary>
    public IEnumerable<QueuedTask> Pending => _pending.InOrder();

    /// <summary>Task ids <paramref name="worker"/> holds here now.</summary>
    public IReadOnlyList<string> HeldBy(string worker) =>
        _heldBy.TryGetValue(worker, out var held) ? held.ToList() : [];

    /// <summary>How many tasks <paramref name="worker"/> holds here now.</summary>
    public int HeldCount(string worker) => _heldBy.TryGetValue(worker, out var held) ? held.Count : 0;

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
        if (_pending.Contains(command.TaskId) || _inFlight.ContainsKey(command.TaskId) || _finished.Contains(command.TaskId))
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
        if (!task.Holders.Contains(report.Worker)) return new ReportDecision(null, IgnoredReport.NotHolder);
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
        _heldBy.TryGetValue(left.Worker, out var held)
            ? held.Select(id => _inFlight[id]).OrderBy(t => t.Sequence)
                .Select(t => new TaskRequeued(t.TaskId, left.Worker, left.Reason, now)).ToList()
            : [];

    /// <summary>Decides a worker entity's giving back of one task: a requeue when that worker holds it now.</summary>
    public TaskRequeued? Process(ReturnTask returned, double now) =>
        _inFlight.TryGetValue(returned.TaskId, out var t) && t.Worker == returned.Worker
            ? new TaskRequeued(t.TaskId, returned.Worker, returned.Reason, now)
            : null;

    /// <summary>Decides which allocations waited longer than <paramref name="ackTimeoutMs"/> (monotonic) for their
    /// acknowledgement.</summary>
    public IReadOnlyList<TaskRequeued> ExpiredAcknowledgements(long ackTimeoutMs, double now)
    {
        List<TaskRequeued>? expired = null;
        var nowMs = _clockMs();
        while (_awaitingAck.TryPeek(out var head) && nowMs - head.AtMs >= ackTimeoutMs)
        {
            _awaitingAck.Dequeue(); // bookkeeping only: the sweep position, not domain state
            if (_inFlight.TryGetValue(head.TaskId, out var t) && t.Attempts == head.Attempt && !t.Acknowledged)
                (expired ??= []).Add(new TaskRequeued(t.TaskId, t.Worker!, "ack_timeout", now));
        }
        return expired ?? (IReadOnlyList<TaskRequeued>)[];
    }

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
                Record(e, "accepted", null, null, null);
                break;
            case TaskAllocated a:
            {
                var task = Find(a.TaskId);
                if (task is null) break;
                _pending.Remove(a.TaskId);
                if (task.Worker is { } previous) Release(previous, a.TaskId);
                task.Worker = a.Worker;
                task.Attempts = a.Attempt;
                task.Acknowledged = false;
                task.Started = false;
                task.AllocatedAt = a.At;
                if (!task.Holders.Contains(a.Worker)) task.Holders.Add(a.Worker);
                _inFlight[a.TaskId] = task;
                Hold(a.Worker, a.TaskId);
                _awaitingAck.Enqueue((_clockMs(), a.TaskId, a.Attempt));
                Allocated++;
                Record(e, "allocated", a.Worker, a.Attempt, null);
                break;
            }
            case TaskAcknowledged a:
                if (_inFlight.TryGetValue(a.TaskId, out var acked)) acked.Acknowledged = true;
                Record(e, "acknowledged", a.Worker, null, null);
                break;
            case TaskStarted s:
                if (_inFlight.TryGetValue(s.TaskId, out var started))
                {
                    started.Acknowledged = true;
                    started.Started = true;
                }
                Record(e, "started", s.Worker, null, null);
                break;
            case TaskSucceeded s:
                Finish(s.TaskId);
                Succeeded++;
                Record(e, "succeeded", s.Worker, null, null);
                break;
            case TaskFailed f:
                Finish(f.TaskId);
                Failed++;
                Record(e, "failed", f.Worker, null, f.Exception);
                break;
            case TaskRequeued r:
                if (_inFlight.Remove(r.TaskId, out var back))
                {
                    Release(back.Worker!, back.TaskId);
                    back.Worker = null;
                    back.Acknowledged = false;
                    back.Started = false;
                    // Its original sequence puts it ahead of every newer task of its priority.
                    _pending.Enqueue(back);
                }
                Requeued++;
                Record(e, "requeued", r.Worker, null, r.Reason);
                break;
        }
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
    public IReadOnlyList<HistoryEntry> History(int limit) => _history.Reverse().Take(Math.Max(0, limit)).ToList();

    /// <summary>The whole state as a snapshot.</summary>
    public QueueSnapshot ToSnapshot() => new(
        _pending.InOrder().Select(ToSnapshot).ToList(),
        _inFlight.Values.OrderBy(t => t.Sequence).Select(ToSnapshot).ToList(),
        _finishedOrder.ToList(), _nextSequence, EventCount, Accepted, Allocated, Succeeded, Failed, Requeued,
        _history.ToList());

    /// <summary>Restores the state of a snapshot (on an empty state, before replaying newer events). Unacknowledged
    /// allocations get a whole ack timeout from now.</summary>
    public void Restore(QueueSnapshot s)
    {
        foreach (var t in s.Pending) _pending.Enqueue(FromSnapshot(t));
        var nowMs = _clockMs();
        foreach (var t in s.InFlight.OrderBy(t => t.AllocatedAt))
        {
            var task = FromSnapshot(t);
            _inFlight[task.TaskId] = task;
            Hold(task.Worker!, task.TaskId);
            if (!task.Acknowledged) _awaitingAck.Enqueue((nowMs, task.TaskId, task.Attempts));
        }
        foreach (var id in s.Finished) Remember(id);
        foreach (var h in s.History) _history.Enqueue(h);
        _nextSequence = s.NextSequence;
        EventCount = s.EventCount;
        (Accepted, Allocated, Succeeded, Failed, Requeued) = (s.Accepted, s.Allocated, s.Succeeded, s.Failed, s.Requeued);
    }

    private void Finish(string taskId)
    {
        if (_inFlight.Remove(taskId, out var task)) Release(task.Worker!, taskId);
        else _pending.Remove(taskId);
        Remember(taskId);
    }

    private void Hold(string worker, string taskId)
    {
        if (!_heldBy.TryGetValue(worker, out var held)) _heldBy[worker] = held = new HashSet<string>(StringComparer.Ordinal);
        held.Add(taskId);
    }

    private void Release(string worker, string taskId)
    {
        if (!_heldBy.TryGetValue(worker, out var held)) return;
        held.Remove(taskId);
        if (held.Count == 0) _heldBy.Remove(worker);
    }

    private void Remember(string taskId)
    {
        if (!_finished.Add(taskId)) return;
        _finishedOrder.Enqueue(taskId);
        if (_finishedOrder.Count > _finishedMemory) _finished.Remove(_finishedOrder.Dequeue());
    }

    private void Record(IQueueEvent e, string name, string? worker, int? attempt, string? detail)
    {
        _history.Enqueue(new HistoryEntry(EventCount, name, e.TaskId, worker, attempt, e.At, detail));
        if (_history.Count > _historyCapacity) _history.Dequeue();
    }

    private static SnapshotTask ToSnapshot(QueuedTask t) => new(t.TaskId, t.TaskName, t.TaskData, t.Priority,
        t.Requires, t.ArrivedAt, t.Sequence, t.Attempts, t.Worker, t.Acknowledged, t.Started, t.AllocatedAt,
        t.Holders.ToList());

    private static QueuedTask FromSnapshot(SnapshotTask t)
    {
        var task = new QueuedTask(
            new TaskAccepted(t.TaskId, t.TaskName, t.TaskData, t.Priority, t.Requires, t.ArrivedAt), t.Sequence)
        {
            Attempts = t.Attempts,
            Worker = t.Worker,
            Acknowledged = t.Acknowledged,
            Started = t.Started,
            AllocatedAt = t.AllocatedAt,
        };
        if (t.Holders is { } holders) task.Holders.AddRange(holders);
        else if (t.Worker is { } worker) task.Holders.Add(worker);
        return task;
    }
}
