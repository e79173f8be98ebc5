namespace CeleryActors.Actors.Allocator;

/// <summary>The ids of a queue's finished tasks, the newest <c>capacity</c> of them, so that none is accepted or
/// allocated again. Part of <see cref="QueueState"/>; not thread-safe.</summary>
/// <param name="capacity">Ids remembered.</param>
public sealed class FinishedTasks(int capacity)
{
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    /// <summary>Ids remembered.</summary>
    public int Count => _order.Count;

    /// <summary>The ids remembered, oldest first.</summary>
    public IEnumerable<string> Ids => _order;

    /// <summary>Whether <paramref name="taskId"/> finished (and is still remembered).</summary>
    public bool Contains(string taskId) => _ids.Contains(taskId);

    /// <summary>Remembers <paramref name="taskId"/>, forgetting the oldest id past the capacity.</summary>
    public void Remember(string taskId)
    {
        if (!_ids.Add(taskId)) return;
        _order.Enqueue(taskId);
        if (_order.Count > capacity) _ids.Remove(_order.Dequeue());
    }
}
