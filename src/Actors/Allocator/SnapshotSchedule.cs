namespace CeleryActors.Actors.Allocator;

/// <summary>What a queue does about a snapshot after a journal write.</summary>
public enum SnapshotStep
{
    /// <summary>None is due, or one is due and may wait for a better moment.</summary>
    None,

    /// <summary>Take it now: everything is in the journal.</summary>
    Take,

    /// <summary>Overdue and events keep coming: stop taking commands until what is left is written.</summary>
    Drain,
}

/// <summary>
/// When a queue snapshots its state. A snapshot is due after <c>every</c> events, or after as many as the state holds
/// tasks if that is more (so a big queue does not rewrite itself too often). It may be taken only when the state is
/// all in the journal: at a write that left nothing behind. Under load that moment may not come; past twice the due
/// point, the queue stops taking commands until the rest is written (a pause of one write, which the wait avoids
/// most of the time). Plain and single-threaded.
/// </summary>
/// <param name="every">Events between snapshots, at least.</param>
public sealed class SnapshotSchedule(int every)
{
    private long _since;

    /// <summary>Decides, after a write of <paramref name="events"/> events, with <paramref name="unwritten"/>
    /// events still waiting and a state of <paramref name="stateSize"/> tasks. <see cref="SnapshotStep.Take"/>
    /// starts the count anew.</summary>
    public SnapshotStep Written(int events, int unwritten, int stateSize)
    {
        _since += events;
        var due = Math.Max(every, stateSize);
        if (_since < due) return SnapshotStep.None;
        if (unwritten == 0)
        {
            _since = 0;
            return SnapshotStep.Take;
        }
        return _since >= 2L * due ? SnapshotStep.Drain : SnapshotStep.None;
    }
}
