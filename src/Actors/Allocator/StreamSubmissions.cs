namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The stream entries the durable intake has submitted to their queue entities and not heard back about. The
/// entity answers a submission with the queue and task id (<c>TaskSubmitted</c>, <c>TaskRefused</c>), in the order
/// of the submissions, so an answer settles the oldest entry of that task; a producer may add the same task id
/// twice, and each entry gets its own answer. Entries never answered (the entity was restarting, its node died)
/// are given up after a while; they stay pending in Redis and are claimed again. Not thread-safe: one owner.
/// </summary>
public sealed class StreamSubmissions
{
    private readonly Dictionary<(string Stream, string EntryId), long> _entries = [];
    private readonly Dictionary<(string Queue, string TaskId), Queue<(string Stream, string EntryId)>> _byTask = [];

    /// <summary>Entries out now.</summary>
    public int Count => _entries.Count;

    /// <summary>Whether the entry is out (submitted and not answered or given up).</summary>
    public bool Contains(string stream, string entryId) => _entries.ContainsKey((stream, entryId));

    /// <summary>Records that the entry was submitted at <paramref name="now"/> (milliseconds) as the task
    /// <paramref name="taskId"/> of <paramref name="queue"/>; false if it is out already.</summary>
    public bool Add(string stream, string entryId, string queue, string taskId, long now)
    {
        if (!_entries.TryAdd((stream, entryId), now)) return false;
        if (!_byTask.TryGetValue((queue, taskId), out var entries)) _byTask[(queue, taskId)] = entries = new Queue<(string, string)>(1);
        entries.Enqueue((stream, entryId));
        return true;
    }

    /// <summary>The entry an answer about <paramref name="taskId"/> of <paramref name="queue"/> settles, taken out;
    /// null when none is out (it was given up, or the answer is for somebody else's call).</summary>
    public (string Stream, string EntryId)? Settle(string queue, string taskId)
    {
        if (!_byTask.TryGetValue((queue, taskId), out var entries)) return null;
        while (entries.TryDequeue(out var entry))
        {
            if (entries.Count == 0) _byTask.Remove((queue, taskId));
            if (_entries.Remove(entry)) return entry;
        }
        _byTask.Remove((queue, taskId));
        return null;
    }

    /// <summary>Gives up the entries submitted before <paramref name="cutoff"/> (milliseconds) and returns how many.
    /// Their task keys go when next looked at.</summary>
    public int GiveUp(long cutoff)
    {
        var stale = _entries.Where(e => e.Value < cutoff).Select(e => e.Key).ToList();
        foreach (var entry in stale) _entries.Remove(entry);
        if (stale.Count > 0)
            foreach (var key in _byTask.Where(t => t.Value.All(e => !_entries.ContainsKey(e))).Select(t => t.Key).ToList())
                _byTask.Remove(key);
        return stale.Count;
    }
}
