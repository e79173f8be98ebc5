using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// A registered worker as its entity's states carry it: its registration, its pool, and the worker's side of the
/// slot protocol. It applies what the queues say to the pool and hands every message the queues must get to
/// <c>send</c>, so the entity only glues it to persistence and messaging. Plain and single-threaded; one instance
/// lives as long as the registration (a re-registration keeps the pool, resized).
/// </summary>
public sealed class WorkerSlots
{
    private readonly string _worker;
    private readonly WorkerReports _reports;
    private readonly Action<IQueueCommand> _send;

    /// <summary>Creates the slots of <paramref name="registration"/> with an empty pool.</summary>
    /// <param name="registration">The registration.</param>
    /// <param name="reports">The entity's record of reports, told of every task the worker lets go.</param>
    /// <param name="send">Sends a message to a queue entity.</param>
    public WorkerSlots(RegisterWorker registration, WorkerReports reports, Action<IQueueCommand> send)
        : this(registration, new WorkerPool(registration.PoolSize, registration.Queues), reports, send)
    {
    }

    private WorkerSlots(RegisterWorker registration, WorkerPool pool, WorkerReports reports, Action<IQueueCommand> send)
    {
        _worker = registration.Worker;
        Registration = registration;
        Pool = pool;
        _reports = reports;
        _send = send;
    }

    /// <summary>The incarnation the grants carry (the sequence number of its first event), 0 until it has one.</summary>
    public long Epoch { get; private set; }

    /// <summary>When the worker was last heard from, on the node's monotonic clock (ms).</summary>
    public long LastSeenMs { get; private set; } = Environment.TickCount64;

    /// <summary>When the worker was last heard from, in Unix seconds (shown, never compared), or null.</summary>
    public double? LastHeard { get; private set; }

    /// <summary>The incarnation starts at <paramref name="epoch"/> unless it has one already (it never changes).</summary>
    public void BeginIncarnation(long epoch)
    {
        if (Epoch == 0) Epoch = epoch;
    }

    /// <summary>The worker spoke at <paramref name="nowMs"/> (monotonic) and <paramref name="unixSeconds"/>.</summary>
    public void Heard(long nowMs, double unixSeconds)
    {
        LastSeenMs = nowMs;
        LastHeard = unixSeconds;
    }

    /// <summary>The registration.</summary>
    public RegisterWorker Registration { get; }

    /// <summary>The pool.</summary>
    public WorkerPool Pool { get; }

    /// <summary>Whether <paramref name="r"/> repeats the registration (one without an instance matches any).</summary>
    public bool Matches(RegisterWorker r) =>
        Registration.PoolSize == r.PoolSize && Registration.Queues.SequenceEqual(r.Queues) &&
        (r.Instance is null || r.Instance == Registration.Instance) &&
        Registration.Capabilities.Count == r.Capabilities.Count &&
        Registration.Capabilities.All(c => r.Capabilities.TryGetValue(c.Key, out var v) && v == c.Value);

    /// <summary>Whether <paramref name="r"/> comes from another process than the registration (both name their
    /// instance, and they differ).</summary>
    public bool IsRestart(RegisterWorker r) =>
        Registration.Instance is { } known && r.Instance is { } now && known != now;

    /// <summary>The slots of a new registration, keeping the pool: a restarted process gives back all it held,
    /// a registration without some queue gives back what it held there.</summary>
    public WorkerSlots Reregistered(RegisterWorker next)
    {
        if (IsRestart(next))
        {
            Leave(Pool.Queues.ToList(), RequeueReason.WorkerRestarted);
            Pool.Reset();
        }
        else
        {
            var dropped = Pool.Queues.Except(next.Queues).ToList();
            if (dropped.Count > 0) Leave(dropped, RequeueReason.Reregistered);
        }
        Pool.Size = next.PoolSize;
        Pool.SetQueues(next.Queues);
        return new WorkerSlots(next, Pool, _reports, _send) { Epoch = Epoch, LastSeenMs = LastSeenMs, LastHeard = LastHeard };
    }

    /// <summary>Each queue learns (again) that the worker serves it and how much room it has, and is asked what the
    /// worker holds there: the cut that corrects whatever message of the protocol was lost. A queue with a sync
    /// under way younger than <paramref name="patienceMs"/> is not asked again.</summary>
    public void Sync(long nowMs, long patienceMs)
    {
        foreach (var queue in Pool.Queues.ToList())
        {
            if (Pool.StartSync(queue, nowMs, patienceMs) is not { } stamp) continue;
            _send(new WorkerServesQueue(queue, _worker, Registration.Capabilities, Epoch, stamp, Pool.Free, Pool.Held));
            Pool.Told(queue, Pool.Free);
        }
    }

    /// <summary>Free slots go to the most urgent offers; queues whose offers it cannot take now hear that it is full
    /// (they offer to another worker), and queues that heard it was full hear when it has room again.</summary>
    public void Grant()
    {
        foreach (var (queue, count) in Pool.Grants())
        {
            _send(new GrantSlots(queue, _worker, Epoch, count, Pool.Free, Pool.Held));
            Pool.Told(queue, Pool.Free);
        }
        if (!Pool.AllSynced) return;
        foreach (var queue in Pool.Queues)
        {
            var full = Pool.Free <= 0;
            if (full == Pool.ToldFull(queue) || (full && !Pool.HasOffer(queue))) continue;
            _send(new WorkerRoomChanged(queue, _worker, Math.Max(0, Pool.Free), Pool.Held));
            Pool.Told(queue, Pool.Free);
        }
    }

    /// <summary>The worker leaves <paramref name="queues"/>, which take back what it held there.</summary>
    private void Leave(IReadOnlyCollection<string> queues, string reason)
    {
        foreach (var queue in queues)
        {
            _send(new WorkerLeftQueue(queue, _worker, reason));
            _reports.Left(queue);
        }
        var leaving = queues.ToHashSet(StringComparer.Ordinal);
        foreach (var (queue, id) in Pool.AllHeld().Where(t => leaving.Contains(t.Queue)).ToList()) Let(queue, id);
    }

    /// <summary>The worker leaves every queue: offline, restarted or unregistered.</summary>
    public void LeaveAll(string reason)
    {
        Leave(Pool.Queues.ToList(), reason);
        Pool.Reset();
    }

    /// <summary>A heartbeat listed what the worker runs: held tasks allocated an ack timeout ago that it does not
    /// list go back to their queues. Nothing before every queue answered a sync (what it holds is not known).</summary>
    public void Running(IReadOnlyList<string> running, long nowMs, long ackTimeoutMs)
    {
        if (!Pool.AllSynced) return;
        var gone = Pool.NotRunning(running.ToHashSet(StringComparer.Ordinal), nowMs, ackTimeoutMs);
        foreach (var (queue, id) in gone)
        {
            _send(new ReturnTask(queue, id, _worker, RequeueReason.NotRunning));
            Let(queue, id);
        }
        if (gone.Count > 0) Grant();
    }

    /// <summary>The queue of a task the worker holds that <paramref name="status"/> reports, or null; an outcome
    /// frees its slot (granted again at once), a start is noted.</summary>
    public string? Holding(WorkerTaskStatus status)
    {
        var queue = status.Queue ?? Pool.QueueOf(status.TaskId);
        if (queue is null || !Pool.Holds(queue, status.TaskId)) return null;
        if (status.Progress is TaskProgress.Succeeded or TaskProgress.Failed)
        {
            Let(queue, status.TaskId);
            Grant(); // grants nothing unless synced
        }
        else if (status.Progress == TaskProgress.Started) _reports.Started(queue, status.TaskId);
        return queue;
    }

    /// <summary>A queue told what waits there for the worker: free slots may go to it.</summary>
    public void Offered(TasksWaiting waiting)
    {
        Pool.Offered(waiting.Queue, waiting.Offer);
        Grant();
    }

    /// <summary>A queue answered a sync (one of another incarnation, or of an older sync, is ignored); reports that
    /// came before the queue's notice of their task are placed once the sync says it is held.</summary>
    public void Synced(QueueSynced synced, long nowMs)
    {
        if (synced.Epoch != Epoch || !Pool.Synced(synced.Queue, synced.Stamp, synced.Held, synced.Offer, nowMs)) return;
        foreach (var report in _reports.HeldNow(id => Pool.QueueOf(id) is not null)) _reports.Route(this, report, nowMs);
        Grant();
    }

    /// <summary>A queue allocated a task on a granted slot; with it came what waits there next. Reports that came
    /// before it go on to the queue.</summary>
    public void Assigned(TaskAssignedToWorker assigned, long nowMs)
    {
        Pool.Assigned(assigned.Queue, assigned.TaskId, assigned.Next, nowMs);
        foreach (var report in _reports.Assigned(assigned.TaskId)) _reports.Route(this, report, nowMs);
        if (assigned.Next is not null) Grant();
    }

    /// <summary>A queue gave back granted slots it could not use.</summary>
    public void Returned(SlotsReturned returned)
    {
        Pool.Returned(returned.Queue, returned.Count, returned.Next);
        Grant();
    }

    /// <summary>The queue released a task it had allocated to the worker (taken back): its slot is free.</summary>
    public void Released(TaskReleasedFromWorker released)
    {
        Let(released.Queue, released.TaskId);
        Grant();
    }

    /// <summary>What the status query of <paramref name="worker"/> shows, registered (<paramref name="slots"/>) or
    /// not.</summary>
    public static WorkerStatus Status(string worker, WorkerSlots? slots, bool online) =>
        slots is { Registration: var r }
            ? new(worker, true, r.Queues, r.Capabilities, r.PoolSize, slots.Pool.Held, online, slots.LastHeard, r.Instance)
            : new(worker, false, [], new Dictionary<string, CapabilityValue>(), 0, 0, online, null, null);

    // The task is no longer this worker's: its slot is free, and late reports still reach its queue.
    private void Let(string queue, string taskId)
    {
        Pool.Forget(queue, taskId);
        _reports.Let(queue, taskId, Environment.TickCount64);
    }
}
