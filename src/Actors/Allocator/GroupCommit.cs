using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// A queue's group commit: events decided while a journal write is under way collect here, each with the actions
/// that must wait until it is stored (publishing an assignment, answering a client), and go as one journal entry
/// when that write is done. An entry is capped by events and by bytes: a burst of large tasks in one entry could
/// pass Redis's bulk limit and fail every task of it. Actions run in the order they were added.
/// </summary>
/// <param name="maxEvents">Most events in one entry.</param>
/// <param name="maxBytes">Most estimated bytes in one entry; an event larger than that goes alone.</param>
public sealed class GroupCommit(int maxEvents, long maxBytes)
{
    private readonly List<(IQueueEvent Event, long Bytes)> _events = [];
    // Each action with the number of events that must be stored before it runs (counted from the first unwritten).
    private readonly List<(int After, Action Run)> _actions = [];

    /// <summary>Events not yet written.</summary>
    public int Count => _events.Count;

    /// <summary>Events not yet written, with those of the write under way.</summary>
    public int Unwritten => _events.Count + Writing;

    /// <summary>Events of the write under way (0: none is).</summary>
    public int Writing { get; private set; }

    /// <summary>Whether nothing waits: no event and no action.</summary>
    public bool IsEmpty => _events.Count == 0 && _actions.Count == 0;

    /// <summary>Starts the next write unless one is under way or nothing waits: the entry to write (empty when
    /// only actions waited, which may run at once) and the actions that wait for it. The write is under way until
    /// <see cref="Written"/>, unless the entry is empty.</summary>
    public bool TryStart(out IReadOnlyList<IQueueEvent> events, out IReadOnlyList<Action> actions)
    {
        (events, actions) = ([], []);
        if (Writing > 0 || IsEmpty) return false;
        (events, actions) = Take();
        Writing = events.Count;
        return true;
    }

    /// <summary>The write under way is stored.</summary>
    public void Written() => Writing = 0;

    /// <summary>Adds an event and what runs once it is stored.</summary>
    public void Add(IQueueEvent e, Action afterStored)
    {
        _events.Add((e, EstimatedBytes(e)));
        _actions.Add((_events.Count, afterStored));
    }

    /// <summary>Adds an action that runs once everything added so far is stored.</summary>
    public void After(Action action) => _actions.Add((_events.Count, action));

    /// <summary>Takes the next entry: the oldest events within the caps (at least one), and the actions that wait
    /// for no more than those; what is left stays for the next entry.</summary>
    public (IReadOnlyList<IQueueEvent> Events, IReadOnlyList<Action> Actions) Take()
    {
        var n = 0;
        long bytes = 0;
        while (n < _events.Count && n < maxEvents && (n == 0 || bytes + _events[n].Bytes <= maxBytes))
            bytes += _events[n++].Bytes;
        var events = _events.Take(n).Select(e => e.Event).ToList();
        _events.RemoveRange(0, n);
        var ready = 0;
        while (ready < _actions.Count && _actions[ready].After <= n) ready++;
        var actions = _actions.Take(ready).Select(a => a.Run).ToList();
        _actions.RemoveRange(0, ready);
        for (var i = 0; i < _actions.Count; i++) _actions[i] = (_actions[i].After - n, _actions[i].Run);
        return (events, actions);
    }

    // The serialized size, roughly: what a task carries, plus the envelope of an event.
    private static long EstimatedBytes(IQueueEvent e) =>
        128 + (e is TaskAccepted a ? (long)a.TaskData.Length + a.TaskName.Length + a.TaskId.Length : e.TaskId.Length);
}
