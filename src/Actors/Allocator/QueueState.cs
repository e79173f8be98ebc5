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

    /// <summary>Another node's copy of a publication already taken: ignored, not counted.</summary>
    Copy,
}

/// <summary>
/// The domain of one queue, free of actors: commands are decided into events (<c>Process…</c>, which never
/// change the state) and events change the state (<see cref="Apply"/>), the same way live and during
/// recovery. The state is mutable on purpose: a queue applies tens of thousands of events a second, and
/// copying a mailbox per event would cost more than the decision. The view of the workers serving the queue is
/// not event-sourced: workers announce themselves again (their entities recover their registrations).
/// </summary>
public sealed class QueueState
{
    private readonly PriorityMailbox<QueuedTask> _pending = new();
    private readonly Dictionary<string, QueuedTask> _inFlight = new(StringComparer.Ordinal);
    private readonly List<WorkerSlot> _workers = [];
    private readonly Dictionary<string, WorkerSlot> _workersByName = new(StringComparer.Ordinal);
    private readonly HashSet<string> _finished = new(StringComparer.Ordinal);
    private readonly Queue<string> _finishedOrder = new();
    private readonly Queue<HistoryEntry> _history = new();
    // Allocations waiting for their acknowledgement, oldest first: the timeout is the same for all, so a FIFO
    // sweep finds the expired ones without a timer per task.
    private readonly Queue<(double At, string TaskId, int Attempt)> _awaitingAck = new();
    // Submissions are counted per incarnation: duplicates from the client, and the pub/sub copies' tally.
    private readonly PubSubTally _heard = new();
    private long _clientDuplicates, _heardDuplicates, _acceptedHeard;
    private readonly int _finishedMemory;
    private readonly int _historyCapacity;
    private long _nextSequence;

    /// <summary>Creates an empty queue.</summary>
    /// <param name="queue">Its name.</param>
    /// <param name="finishedMemory">Finished task ids remembered (so they are never allocated again).</param>
    /// <param name="historyCapacity">History entries kept for queries.</param>
    public QueueState(string queue, int finishedMemory = 100_000, int historyCapacity = 1_000)
    {
        Queue = queue;
        _finishedMemory = finishedMemory;
        _historyCapacity = historyCapacity;
    }

    /// <summary>The queue's name.</summary>
    public string Queue { get; }

    /// <summary>Tasks waiting.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Tasks allocated and not finished.</summary>
    public int InFlightCount => _inFlight.Count;

    /// <summary>Online workers serving the queue.</summary>
    public int Consumers => _workers.Count(w => w.Online);

    /// <summary>The workers as the queue sees them.</summary>
    public IReadOnlyList<WorkerSlot> Workers => _workers;

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
    public long Duplicates => _clientDuplicates + _heardDuplicates;

    /// <summary>A waiting or in-flight task by id.</summary>
    public QueuedTask? Find(string taskId) =>
        _inFlight.TryGetValue(taskId, out var t) ? t : _pending.TryGet(taskId, out var p) ? p : null;

    /// <summary>The in-flight tasks.</summary>
    public IEnumerable<QueuedTask> InFlight => _inFlight.Values;

    /// <summary>The waiting tasks in the order they come out.</summary>
    public IEnumerable<QueuedTask> Pending => _pending.InOrder();

    /// <summary>
    /// Decides a submission: an acceptance, a duplicate (counted here), or another node's copy. A task id seen
    /// before is a duplicate when it comes from the actor client (one copy per call). Copies heard on pub/sub come
    /// once per node, so their duplicates are counted as publications minus acceptances: the publications are
    /// the highest number of copies one node forwarded (<see cref="PubSubTally"/>), every acceptance was one of
    /// them, and the rest repeated an id. That difference can only grow when a copy of a known id raises the
    /// publications, and that copy is the duplicate.
    /// </summary>
    /// <param name="command">The submission.</param>
    /// <param name="accepted">The acceptance to persist, when it is one.</param>
    /// <param name="newPublication">Whether this pub/sub copy is the first of its publication (count it once).</param>
    public SubmitOutcome Process(SubmitTask command, out TaskAccepted? accepted, out bool newPublication)
    {
        accepted = null;
        newPublication = command.Via is { } copy && _heard.Observe(copy);
        var known = _pending.Contains(command.TaskId) || _inFlight.ContainsKey(command.TaskId) ||
                    _finished.Contains(command.TaskId);
        if (command.Via is not { } via)
        {
            if (known)
            {
                _clientDuplicates++;
                return SubmitOutcome.Duplicate;
            }
        }
        else if (known)
        {
            if (via.Replay) return SubmitOutcome.Copy;
            var heardDuplicates = _heard.Publications(via.Channel, via.MessageType) - _acceptedHeard;
            if (heardDuplicates <= _heardDuplicates) return SubmitOutcome.Copy;
            _heardDuplicates = heardDuplicates;
            return SubmitOutcome.Duplicate;
        }
        // A replay's lost original was never counted here, so it is no acceptance of a counted publication.
        else if (!via.Replay) _acceptedHeard++;
        accepted = new TaskAccepted(command.TaskId, command.TaskName, command.TaskData, command.Priority,
            command.Requires, command.ArrivedAt);
        return SubmitOutcome.Accepted;
    }

    /// <summary>Decides a worker's report; null when it changes nothing (stale, repeated, unknown task).</summary>
    public IQueueEvent? Process(ReportTaskProgress report, double now)
    {
        if (_inFlight.TryGetValue(report.TaskId, out var task))
        {
            var holder = task.Worker == report.Worker;
            return report.Progress switch
            {
                TaskProgress.Received when holder && !task.Acknowledged => new TaskAcknowledged(task.TaskId, report.Worker, now),
                TaskProgress.Started when holder && !task.Started => new TaskStarted(task.TaskId, report.Worker, now),
                // A finish counts whoever reports it first: at-least-once delivery may have two runners, and
                // the task must complete once.
                TaskProgress.Succeeded => new TaskSucceeded(task.TaskId, report.Worker, report.Runtime, now),
                TaskProgress.Failed => new TaskFailed(task.TaskId, report.Worker, report.Runtime,
                    report.Exception ?? TaskStatusParser.UnknownException, now),
                _ => null,
            };
        }
        if (_pending.Contains(report.TaskId))
        {
            // Taken back (ack timeout) but finished by its former holder after all: finish it, do not run it again.
            return report.Progress switch
            {
                TaskProgress.Succeeded => new TaskSucceeded(report.TaskId, report.Worker, report.Runtime, now),
                TaskProgress.Failed => new TaskFailed(report.TaskId, report.Worker, report.Runtime,
                    report.Exception ?? TaskStatusParser.UnknownException, now),
                _ => null,
            };
        }
        return null;
    }

    /// <summary>Decides what a worker's departure returns to the queue (its unfinished tasks, oldest first).</summary>
    public IReadOnlyList<TaskRequeued> Process(WorkerLeftQueue left, double now) =>
        _inFlight.Values.Where(t => t.Worker == left.Worker).OrderBy(t => t.Sequence)
            .Select(t => new TaskRequeued(t.TaskId, left.Worker, left.Reason, now)).ToList();

    /// <summary>Decides which allocations waited too long for their acknowledgement.</summary>
    public IReadOnlyList<TaskRequeued> ExpiredAcknowledgements(double now, double ackTimeoutSeconds)
    {
        List<TaskRequeued>? expired = null;
        while (_awaitingAck.TryPeek(out var head) && head.At + ackTimeoutSeconds <= now)
        {
            _awaitingAck.Dequeue(); // bookkeeping only: the sweep position, not domain state
            if (_inFlight.TryGetValue(head.TaskId, out var t) && t.Attempts == head.Attempt && !t.Acknowledged)
                (expired ??= []).Add(new TaskRequeued(t.TaskId, t.Worker!, "ack_timeout", now));
        }
        return expired ?? (IReadOnlyList<TaskRequeued>)[];
    }

    /// <summary>Decides the next allocation, or null when no waiting task can go to any worker now. Looks at
    /// most <paramref name="maxRefusals"/> waiting tasks that no worker can take (capabilities) before giving up.</summary>
    public TaskAllocated? NextAllocation(double now, int maxRefusals = 64)
    {
        if (_pending.Peek() is not { } head) return null;
        // The common case, the first task in line goes: no walk through the mailbox.
        var first = AllocationDecision.Choose(_workers, head.Requires);
        if (first is not null) return new TaskAllocated(head.TaskId, first.Name, head.Attempts + 1, now);
        // A task with no requirements that nobody can take means nobody has room at all.
        if (head.Requires is null) return null;
        var refusals = 1;
        foreach (var task in _pending.InOrder())
        {
            if (ReferenceEquals(task, head)) continue;
            var worker = AllocationDecision.Choose(_workers, task.Requires);
            if (worker is not null) return new TaskAllocated(task.TaskId, worker.Name, task.Attempts + 1, now);
            if (task.Requires is null || ++refusals >= maxRefusals) return null;
        }
        return null;
    }

    /// <summary>A worker serves the queue (again), with its capabilities and slots. Workers repeat this every
    /// few seconds (a queue that restarted elsewhere learns its workers that way), so a known worker costs no
    /// recount: its load has been kept up to date since it was added.</summary>
    /// <returns>Whether the worker was new to the queue.</returns>
    public bool UpsertWorker(WorkerServesQueue serves)
    {
        var added = !_workersByName.TryGetValue(serves.Worker, out var slot);
        if (added)
        {
            slot = new WorkerSlot(serves.Worker, serves.Capabilities, serves.Slots)
            {
                Load = _inFlight.Values.Count(t => t.Worker == serves.Worker),
            };
            _workers.Add(slot);
            _workersByName.Add(serves.Worker, slot);
        }
        slot!.Capabilities = serves.Capabilities;
        slot.Slots = serves.Slots;
        slot.Online = true;
        return added;
    }

    /// <summary>The in-flight tasks <paramref name="worker"/> holds.</summary>
    public IEnumerable<QueuedTask> HeldBy(string worker) => _inFlight.Values.Where(t => t.Worker == worker);

    /// <summary>A worker no longer serves the queue (apply its requeues first).</summary>
    public void RemoveWorker(string worker)
    {
        if (_workersByName.Remove(worker, out var slot)) _workers.Remove(slot);
    }

    /// <summary>Applies one event (live or during recovery).</summary>
    public void Apply(IQueueEvent e)
    {
        EventCount++;
        switch (e)
        {
            case TaskAccepted a:
                _pending.Enqueue(a.TaskId, a.Priority, _nextSequence, new QueuedTask(a, _nextSequence));
                _nextSequence++;
                Accepted++;
                Record(e, "accepted", null, null, null);
                break;
            case TaskAllocated a:
            {
                var task = Find(a.TaskId);
                if (task is null) break;
                _pending.Remove(a.TaskId);
                task.Worker = a.Worker;
                task.Attempts = a.Attempt;
                task.Acknowledged = false;
                task.Started = false;
                task.AllocatedAt = a.At;
                _inFlight[a.TaskId] = task;
                _awaitingAck.Enqueue((a.At, a.TaskId, a.Attempt));
                ChangeLoad(a.Worker, +1);
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
                    ChangeLoad(back.Worker!, -1);
                    back.Worker = null;
                    back.Acknowledged = false;
                    back.Started = false;
                    // Its original sequence puts it ahead of every newer task of its priority.
                    _pending.Enqueue(back.TaskId, back.Priority, back.Sequence, back);
                }
                Requeued++;
                Record(e, "requeued", r.Worker, null, r.Reason);
                break;
        }
    }

    /// <summary>The statistics (SPEC §4.2).</summary>
    public QueueStats Stats()
    {
        var byPriority = new SortedDictionary<int, int>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
        for (var p = PriorityMailbox<QueuedTask>.Levels - 1; p >= 0; p--)
            if (_pending.CountAt(p) is var n and > 0) byPriority[p] = n;
        return new QueueStats(Queue, byPriority, PendingCount, Consumers, InFlightCount, Accepted, Allocated,
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

    /// <summary>Restores the state of a snapshot (on an empty state, before replaying newer events).</summary>
    public void Restore(QueueSnapshot s)
    {
        foreach (var t in s.Pending)
        {
            var task = FromSnapshot(t);
            _pending.Enqueue(task.TaskId, task.Priority, task.Sequence, task);
        }
        foreach (var t in s.InFlight.OrderBy(t => t.AllocatedAt))
        {
            var task = FromSnapshot(t);
            _inFlight[task.TaskId] = task;
            if (!task.Acknowledged) _awaitingAck.Enqueue((task.AllocatedAt, task.TaskId, task.Attempts));
        }
        foreach (var id in s.Finished) Remember(id);
        foreach (var h in s.History) _history.Enqueue(h);
        _nextSequence = s.NextSequence;
        EventCount = s.EventCount;
        (Accepted, Allocated, Succeeded, Failed, Requeued) = (s.Accepted, s.Allocated, s.Succeeded, s.Failed, s.Requeued);
    }

    private void Finish(string taskId)
    {
        if (_inFlight.Remove(taskId, out var task)) ChangeLoad(task.Worker!, -1);
        else _pending.Remove(taskId);
        Remember(taskId);
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

    private void ChangeLoad(string worker, int by)
    {
        if (_workersByName.TryGetValue(worker, out var slot)) slot.Load += by;
    }

    private static SnapshotTask ToSnapshot(QueuedTask t) => new(t.TaskId, t.TaskName, t.TaskData, t.Priority,
        t.Requires, t.ArrivedAt, t.Sequence, t.Attempts, t.Worker, t.Acknowledged, t.Started, t.AllocatedAt);

    private static QueuedTask FromSnapshot(SnapshotTask t) =>
        new(new TaskAccepted(t.TaskId, t.TaskName, t.TaskData, t.Priority, t.Requires, t.ArrivedAt), t.Sequence)
        {
            Attempts = t.Attempts,
            Worker = t.Worker,
            Acknowledged = t.Acknowledged,
            Started = t.Started,
            AllocatedAt = t.AllocatedAt,
        };
}
