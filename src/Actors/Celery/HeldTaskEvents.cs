
namespace CeleryActors.Actors.Celery;

/// <summary>
/// Task events held back because the node cannot tell their queue yet. Celery's producer publishes
/// <c>task-sent</c>, the one event that names the queue, after the task message itself, so a quick worker's
/// <c>task-received</c> and <c>task-started</c> can arrive first; counted at once they would go under
/// <c>queue="unknown"</c>. They wait here, in arrival order per task, until the task's <c>task-sent</c> comes
/// (<see cref="Release"/>) or a grace time passes (<see cref="ReleaseHeldBefore"/>). Bounded: past
/// <c>capacity</c> tasks a new one is not held. Not thread-safe: one owner.
/// </summary>
public sealed class HeldTaskEvents(int capacity)
{
    /// <summary>How long a task event whose queue is unknown waits for the task's <c>task-sent</c> (at least; the
    /// monitor's sweep that releases it runs every second).</summary>
    public static readonly TimeSpan HoldFor = TimeSpan.FromSeconds(1);

    /// <summary>Tasks whose events the monitor holds at most; past this an event is counted at once, under what is
    /// known.</summary>
    public const int MaxTasks = 10_000;

    private readonly Dictionary<string, Held> _byTask = new(StringComparer.Ordinal);
    // In the order held; an entry whose task was released (and maybe held again since) is skipped.
    private readonly Queue<(string TaskId, Held Held)> _order = new();

    /// <summary>Tasks whose events are held now.</summary>
    public int Count => _byTask.Count;

    /// <summary>Whether events of <paramref name="taskId"/> are held: its later events must wait behind them.</summary>
    public bool Holds(string taskId) => _byTask.ContainsKey(taskId);

    /// <summary>Holds <paramref name="e"/>. An event of a task already held is always taken, so a task's events stay
    /// in order; a new task is not taken when <c>capacity</c> tasks are held (false).</summary>
    public bool TryHold(CeleryTaskEvent e, double now)
    {
        if (_byTask.TryGetValue(e.TaskId, out var held))
        {
            held.Events.Add(e);
            return true;
        }
        if (_byTask.Count >= capacity) return false;
        held = new Held(now, [e]);
        _byTask[e.TaskId] = held;
        _order.Enqueue((e.TaskId, held));
        return true;
    }

    /// <summary>Whether a <c>task-sent</c> has come (<see cref="Release"/>): only on a stream that has them is an
    /// event of unknown queue worth holding, since without them a wait would only delay the counts.</summary>
    public bool SentEventsCome { get; private set; }

    /// <summary>The held events of <paramref name="taskId"/>, in arrival order, now that its <c>task-sent</c> came and
    /// named the queue.</summary>
    public IReadOnlyList<CeleryTaskEvent> Release(string taskId)
    {
        SentEventsCome = true;
        return _byTask.Remove(taskId, out var held) ? held.Events : [];
    }

    /// <summary>The events of every task held since before <paramref name="cutoff"/>, task by task in the order
    /// they were held: their <c>task-sent</c> is late or never comes.</summary>
    public IReadOnlyList<CeleryTaskEvent> ReleaseHeldBefore(double cutoff)
    {
        List<CeleryTaskEvent>? released = null;
        while (_order.TryPeek(out var first) && first.Held.Since < cutoff)
        {
            _order.Dequeue();
            if (_byTask.TryGetValue(first.TaskId, out var held) && ReferenceEquals(held, first.Held))
            {
                _byTask.Remove(first.TaskId);
                (released ??= []).AddRange(held.Events);
            }
        }
        return released ?? (IReadOnlyList<CeleryTaskEvent>)[];
    }

    private sealed record Held(double Since, List<CeleryTaskEvent> Events);
}
