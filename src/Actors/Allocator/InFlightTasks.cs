namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The tasks of one queue that are allocated and not finished, indexed by their holder, with the allocations that
/// wait for an acknowledgement in the order they were made (monotonic ms): the timeout is the same for all, so a
/// FIFO sweep finds the expired ones without a timer per task. Part of <see cref="QueueState"/>; not thread-safe.
/// </summary>
public sealed class InFlightTasks
{
    private readonly Dictionary<string, QueuedTask> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _heldBy = new(StringComparer.Ordinal);
    private readonly Queue<(long AtMs, string TaskId, int Attempt)> _awaitingAck = new();

    /// <summary>Tasks in flight.</summary>
    public int Count => _tasks.Count;

    /// <summary>The tasks in flight.</summary>
    public IEnumerable<QueuedTask> Tasks => _tasks.Values;

    /// <summary>Whether <paramref name="taskId"/> is in flight.</summary>
    public bool Contains(string taskId) => _tasks.ContainsKey(taskId);

    /// <summary>The task in flight with <paramref name="taskId"/>, if any.</summary>
    public bool TryGet(string taskId, out QueuedTask task) => _tasks.TryGetValue(taskId, out task!);

    /// <summary>Task ids <paramref name="worker"/> holds.</summary>
    public IReadOnlyList<string> HeldBy(string worker) =>
        _heldBy.TryGetValue(worker, out var held) ? held.ToList() : [];

    /// <summary>How many tasks <paramref name="worker"/> holds.</summary>
    public int HeldCount(string worker) => _heldBy.TryGetValue(worker, out var held) ? held.Count : 0;

    /// <summary>The tasks <paramref name="worker"/> holds, oldest first.</summary>
    public IEnumerable<QueuedTask> HeldTasks(string worker) =>
        _heldBy.TryGetValue(worker, out var held) ? held.Select(id => _tasks[id]).OrderBy(t => t.Sequence) : [];

    /// <summary>Adds an allocated task (its <see cref="QueuedTask.Worker"/> set); an unacknowledged one is swept
    /// from <paramref name="sinceMs"/> on.</summary>
    public void Add(QueuedTask task, long sinceMs)
    {
        _tasks[task.TaskId] = task;
        if (!_heldBy.TryGetValue(task.Worker!, out var held))
            _heldBy[task.Worker!] = held = new HashSet<string>(StringComparer.Ordinal);
        held.Add(task.TaskId);
        if (!task.Acknowledged) _awaitingAck.Enqueue((sinceMs, task.TaskId, task.Attempts));
    }

    /// <summary>Removes a task from flight (finished, requeued, or allocated again), with its holder's index.</summary>
    public bool Remove(string taskId, out QueuedTask task)
    {
        if (!_tasks.Remove(taskId, out task!)) return false;
        if (_heldBy.TryGetValue(task.Worker!, out var held))
        {
            held.Remove(taskId);
            if (held.Count == 0) _heldBy.Remove(task.Worker!);
        }
        return true;
    }

    /// <summary>The attempts allocated at least <paramref name="ackTimeoutMs"/> before <paramref name="nowMs"/> and
    /// still unacknowledged. The sweep position moves on: each allocation is reported once.</summary>
    public List<QueuedTask>? Unacknowledged(long ackTimeoutMs, long nowMs)
    {
        List<QueuedTask>? expired = null;
        while (_awaitingAck.TryPeek(out var head) && nowMs - head.AtMs >= ackTimeoutMs)
        {
            _awaitingAck.Dequeue();
            if (_tasks.TryGetValue(head.TaskId, out var t) && t.Attempts == head.Attempt && !t.Acknowledged)
                (expired ??= []).Add(t);
        }
        return expired;
    }
}
