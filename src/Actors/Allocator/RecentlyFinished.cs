namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The tasks a worker entity let go in the last moments (finished, or taken back by the queue), with the queue each
/// came from: a late report about one of them (from a worker that does not say the queue) still reaches that queue,
/// which finishes a task that a former holder completed, or counts the report as ignored, instead of being parked
/// as a report about an unknown task. Bounded by age and count.
/// </summary>
public sealed class RecentlyFinished
{
    private readonly Dictionary<string, (string Queue, long At)> _tasks = new(StringComparer.Ordinal);
    private readonly Queue<(long At, string TaskId)> _order = new();
    private readonly int _capacity;
    private readonly long _lifetimeMs;

    /// <summary>Creates an empty set.</summary>
    /// <param name="capacity">Tasks kept at most (the oldest go first).</param>
    /// <param name="lifetime">How long a finished task is kept.</param>
    public RecentlyFinished(int capacity, TimeSpan lifetime)
    {
        _capacity = Math.Max(1, capacity);
        _lifetimeMs = (long)lifetime.TotalMilliseconds;
    }

    /// <summary>Tasks held now.</summary>
    public int Count => _tasks.Count;

    /// <summary>Notes that <paramref name="taskId"/> of <paramref name="queue"/> finished at
    /// <paramref name="nowMs"/> (a monotonic clock).</summary>
    public void Add(string taskId, string queue, long nowMs)
    {
        _tasks[taskId] = (queue, nowMs);
        _order.Enqueue((nowMs, taskId));
        Trim(nowMs);
    }

    /// <summary>Whether <paramref name="taskId"/> finished recently, and the queue it came from.</summary>
    public bool TryGet(string taskId, out string queue)
    {
        var found = _tasks.TryGetValue(taskId, out var entry);
        queue = found ? entry.Queue : "";
        return found;
    }

    /// <summary>Forgets <paramref name="taskId"/>: the queue allocated it again, so its reports count again.</summary>
    public void Remove(string taskId) => _tasks.Remove(taskId);

    /// <summary>Drops what is older than the lifetime at <paramref name="nowMs"/>, and the oldest over the
    /// capacity.</summary>
    public void Trim(long nowMs)
    {
        while (_order.TryPeek(out var oldest))
        {
            // An entry of the queue order is stale when its task was removed or noted again since.
            var current = _tasks.TryGetValue(oldest.TaskId, out var entry) && entry.At == oldest.At;
            if (current && _tasks.Count <= _capacity && nowMs - oldest.At <= _lifetimeMs) return;
            _order.Dequeue();
            if (current) _tasks.Remove(oldest.TaskId);
        }
    }
}
