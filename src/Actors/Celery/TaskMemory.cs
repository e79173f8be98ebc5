namespace CeleryActors.Actors.Celery;

/// <summary>What the node remembers of one task id.</summary>
/// <param name="Name">The task name, from <c>task-sent</c> or <c>task-received</c>.</param>
/// <param name="Queue">The queue, from <c>task-sent</c> or remote control.</param>
/// <param name="RememberedAt">When it was last updated (monotonic seconds).</param>
public sealed record RememberedTask(string? Name, string? Queue, double RememberedAt);

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

    /// <summary>Records (or completes) what is known of <paramref name="taskId"/>; later non-null values win.</summary>
    public void Remember(string taskId, string? name, string? queue, double now)
    {
        if (_index.TryGetValue(taskId, out var node))
        {
            var old = node.Value.Task;
            _order.Remove(node);
            node.Value = (taskId, new RememberedTask(name ?? old.Name, queue ?? old.Queue, now));
            _order.AddLast(node);
        }
        else
        {
            _index[taskId] = _order.AddLast((taskId, new RememberedTask(name, queue, now)));
        }
        Trim(now);
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
