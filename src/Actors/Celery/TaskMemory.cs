namespace CeleryActors.Actors.Celery;

/// <summary>What the node remembers of one task id.</summary>
/// <param name="Name">The task name, from <c>task-sent</c> or <c>task-received</c>.</param>
/// <param name="Queue">The queue, from <c>task-sent</c> or remote control.</param>
/// <param name="RememberedAt">When it was last updated (monotonic seconds).</param>
/// <param name="QueuedAt">When it went into its queue, by the event's clock: <c>task-sent</c>, else
/// <c>task-received</c>.</param>
/// <param name="Eta">When it was due to run, if it had an ETA or countdown.</param>
public sealed record RememberedTask(string? Name, string? Queue, double RememberedAt, double? QueuedAt = null,
    double? Eta = null);

/// <summary>
/// Task id → name and queue, for the events that do not carry them (started, succeeded, failed). Bounded in size
/// (least recently updated first out) and in age, so a flood of task ids, or tasks that never finish, cannot
/// grow it without bound. Not thread-safe: one owner.
/// </summary>
public sealed class TaskMemory(int capacity, TimeSpan maxAge)
{
    private readonly Dictionary<string, LinkedListNode<(string Id, RememberedTask Task)>> _index = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Id, RememberedTask Task)> _order = new();

    /// <summary>Entries held now.</summary>
    public int Count => _index.Count;

    /// <summary>Records (or completes) what is known of <paramref name="taskId"/>: later non-null names and queues
    /// win; the first time it was queued stays (a task is sent before it is received). Returns what is known now.</summary>
    public RememberedTask Remember(string taskId, string? name, string? queue, double now, double? queuedAt = null,
        double? eta = null)
    {
        RememberedTask task;
        if (_index.TryGetValue(taskId, out var node))
        {
            var old = node.Value.Task;
            _order.Remove(node);
            task = new RememberedTask(name ?? old.Name, queue ?? old.Queue, now, old.QueuedAt ?? queuedAt, eta ?? old.Eta);
            node.Value = (taskId, task);
            _order.AddLast(node);
        }
        else
        {
            task = new RememberedTask(name, queue, now, queuedAt, eta);
            _index[taskId] = _order.AddLast((taskId, task));
        }
        Trim(now);
        return task;
    }

    /// <summary>The task started: a retry is queued anew, and its wait counts from its own <c>task-received</c>.</summary>
    public void Started(string taskId)
    {
        if (_index.TryGetValue(taskId, out var node) && node.Value.Task.QueuedAt is not null)
            node.Value = (taskId, node.Value.Task with { QueuedAt = null, Eta = null });
    }

    /// <summary>What is remembered of <paramref name="taskId"/>, or null (never seen, or evicted).</summary>
    public RememberedTask? Recall(string taskId, double now)
    {
        Trim(now);
        return _index.TryGetValue(taskId, out var node) ? node.Value.Task : null;
    }

    /// <summary>Forgets a task that finished.</summary>
    public void Forget(string taskId)
    {
        if (_index.Remove(taskId, out var node)) _order.Remove(node);
    }

    private void Trim(double now)
    {
        var oldest = now - maxAge.TotalSeconds;
        while (_order.First is { } first && (_index.Count > capacity || first.Value.Task.RememberedAt < oldest))
        {
            _index.Remove(first.Value.Id);
            _order.RemoveFirst();
        }
    }
}
