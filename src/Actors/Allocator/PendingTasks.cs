using System.Text;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The waiting tasks of one queue, grouped by what they require: one <see cref="PriorityMailbox{T}"/> per distinct
/// set of requirements. A worker's most urgent task is the best head among the groups its capabilities meet, so
/// tasks that no worker can take never stand in front of those it can, and finding a task costs one look per group,
/// however many tasks wait in the groups a worker does not meet. Empty groups are dropped. Not thread-safe.
/// </summary>
public sealed class PendingTasks
{
    private readonly Dictionary<string, Group> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Group> _groupOf = new(StringComparer.Ordinal);
    private readonly int[] _byPriority = new int[PriorityMailbox<QueuedTask>.Levels];

    /// <summary>Tasks waiting.</summary>
    public int Count => _groupOf.Count;

    /// <summary>Tasks waiting at <paramref name="priority"/>.</summary>
    public int CountAt(int priority) => _byPriority[priority];

    /// <summary>Whether <paramref name="taskId"/> waits.</summary>
    public bool Contains(string taskId) => _groupOf.ContainsKey(taskId);

    /// <summary>The waiting task with <paramref name="taskId"/>, if any.</summary>
    public QueuedTask? Find(string taskId) =>
        _groupOf.TryGetValue(taskId, out var g) && g.Tasks.TryGet(taskId, out var t) ? t : null;

    /// <summary>Adds a task at its priority and arrival sequence (a requeued task goes back to its place).</summary>
    public void Enqueue(QueuedTask task)
    {
        var key = task.RequirementKey;
        if (!_groups.TryGetValue(key, out var group)) _groups[key] = group = new Group(key, task.Requires);
        group.Tasks.Enqueue(task.TaskId, task.Priority, task.Sequence, task);
        _groupOf[task.TaskId] = group;
        _byPriority[task.Priority]++;
    }

    /// <summary>Removes a waiting task; false when it was not waiting.</summary>
    public bool Remove(string taskId)
    {
        if (!_groupOf.Remove(taskId, out var group)) return false;
        group.Tasks.TryGet(taskId, out var task);
        group.Tasks.Remove(taskId);
        _byPriority[task!.Priority]--;
        if (group.Tasks.Count == 0) _groups.Remove(group.Key);
        return true;
    }

    /// <summary>The most urgent waiting task (highest priority, then oldest) that
    /// <paramref name="capabilities"/> meet, or null.</summary>
    public QueuedTask? BestFor(IReadOnlyDictionary<string, CapabilityValue> capabilities)
    {
        QueuedTask? best = null;
        foreach (var group in _groups.Values)
        {
            var head = group.Tasks.Peek()!;
            if (best is not null && !MoreUrgent(head, best)) continue;
            if (group.Requires is not null && !AllocationDecision.Meets(capabilities, group.Requires)) continue;
            best = head;
        }
        return best;
    }

    /// <summary>What waits for a worker with <paramref name="capabilities"/>: its most urgent task and how many it
    /// could take; null when none.</summary>
    public TaskOffer? OfferFor(IReadOnlyDictionary<string, CapabilityValue> capabilities)
    {
        QueuedTask? best = null;
        var count = 0;
        foreach (var group in _groups.Values)
        {
            if (group.Requires is not null && !AllocationDecision.Meets(capabilities, group.Requires)) continue;
            count += group.Tasks.Count;
            var head = group.Tasks.Peek()!;
            if (best is null || MoreUrgent(head, best)) best = head;
        }
        return best is null ? null : new TaskOffer(best.Priority, best.ArrivedAt, count);
    }

    /// <summary>Every waiting task, most urgent first (for snapshots and tests; sorts, so not for the hot path).</summary>
    public IEnumerable<QueuedTask> InOrder() =>
        _groups.Values.SelectMany(g => g.Tasks.InOrder())
            .OrderByDescending(t => t.Priority).ThenBy(t => t.Sequence);

    /// <summary>Whether <paramref name="a"/> goes before <paramref name="b"/>: higher priority, then earlier arrival.</summary>
    public static bool MoreUrgent(QueuedTask a, QueuedTask b) =>
        a.Priority != b.Priority ? a.Priority > b.Priority : a.Sequence < b.Sequence;

    /// <summary>The key of a set of requirements: equal sets give equal keys, whatever their order.</summary>
    public static string KeyOf(IReadOnlyDictionary<string, CapabilityValue>? requires)
    {
        if (requires is null || requires.Count == 0) return "";
        var text = new StringBuilder();
        foreach (var (name, value) in requires.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            text.Append(name.Length).Append(':').Append(name);
            if (value.Number is { } n) text.Append("#n").Append(n.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            else text.Append("#s").Append(value.Text!.Length).Append(':').Append(value.Text);
            text.Append(';');
        }
        return text.ToString();
    }

    private sealed class Group(string key, IReadOnlyDictionary<string, CapabilityValue>? requires)
    {
        public string Key { get; } = key;
        public IReadOnlyDictionary<string, CapabilityValue>? Requires { get; } = requires;
        public PriorityMailbox<QueuedTask> Tasks { get; } = new();
    }
}
