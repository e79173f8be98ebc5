using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>The read model of a queue's history: its newest <c>capacity</c> events as entries for queries
/// (<see cref="GetQueueHistory"/>), kept in snapshots. Not thread-safe.</summary>
/// <param name="capacity">Entries kept.</param>
public sealed class HistoryLog(int capacity)
{
    private readonly Queue<HistoryEntry> _entries = new();

    /// <summary>The entries, oldest first.</summary>
    public IEnumerable<HistoryEntry> Entries => _entries;

    /// <summary>Records the event numbered <paramref name="sequence"/>.</summary>
    public void Record(long sequence, IQueueEvent e)
    {
        (string Name, string? Worker, int? Attempt, string? Detail) entry = e switch
        {
            TaskAccepted => (HistoryEvent.Accepted, null, null, null),
            TaskAllocated a => (HistoryEvent.Allocated, a.Worker, a.Attempt, null),
            TaskAcknowledged a => (HistoryEvent.Acknowledged, a.Worker, null, null),
            TaskStarted s => (HistoryEvent.Started, s.Worker, null, null),
            TaskSucceeded s => (HistoryEvent.Succeeded, s.Worker, null, null),
            TaskFailed f => (HistoryEvent.Failed, f.Worker, null, f.Exception),
            TaskRequeued r => (HistoryEvent.Requeued, r.Worker, null, r.Reason),
            _ => (e.GetType().Name, null, null, null),
        };
        _entries.Enqueue(new HistoryEntry(sequence, entry.Name, e.TaskId, entry.Worker, entry.Attempt, e.At, entry.Detail));
        if (_entries.Count > capacity) _entries.Dequeue();
    }

    /// <summary>Puts back an entry of a snapshot.</summary>
    public void Restore(HistoryEntry entry) => _entries.Enqueue(entry);

    /// <summary>The newest <paramref name="limit"/> entries, newest first.</summary>
    public IReadOnlyList<HistoryEntry> Newest(int limit) => _entries.Reverse().Take(Math.Max(0, limit)).ToList();
}
