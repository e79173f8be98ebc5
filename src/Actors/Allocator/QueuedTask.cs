using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>A task of a queue, waiting or in flight. Only <see cref="QueueState"/> changes it, by applying events.</summary>
public sealed class QueuedTask
{
    private readonly List<string> _holders = new(1);

    /// <summary>Creates a task from its acceptance.</summary>
    public QueuedTask(TaskAccepted accepted, long sequence)
    {
        TaskId = accepted.TaskId;
        TaskName = accepted.TaskName;
        TaskData = accepted.TaskData;
        Priority = accepted.Priority;
        Requires = accepted.Requires;
        ArrivedAt = accepted.At;
        Sequence = sequence;
        RequirementKey = PendingTasks.KeyOf(accepted.Requires);
    }

    /// <summary>The task id.</summary>
    public string TaskId { get; }

    /// <summary>The task name.</summary>
    public string TaskName { get; }

    /// <summary>The data as JSON text.</summary>
    public string TaskData { get; }

    /// <summary>0-9.</summary>
    public int Priority { get; }

    /// <summary>Required capabilities.</summary>
    public IReadOnlyDictionary<string, CapabilityValue>? Requires { get; }

    /// <summary>Arrival (Unix seconds).</summary>
    public double ArrivedAt { get; }

    /// <summary>Arrival order in the queue.</summary>
    public long Sequence { get; }

    /// <summary>The key of its requirements (<see cref="PendingTasks.KeyOf"/>).</summary>
    public string RequirementKey { get; }

    /// <summary>Every worker that held an attempt of it: their reports count, a stranger's do not.</summary>
    public IReadOnlyList<string> Holders => _holders;

    /// <summary>Deliveries so far.</summary>
    public int Attempts { get; private set; }

    /// <summary>The holder while in flight.</summary>
    public string? Worker { get; private set; }

    /// <summary>Whether the holder acknowledged it.</summary>
    public bool Acknowledged { get; private set; }

    /// <summary>Whether the holder started it.</summary>
    public bool Started { get; private set; }

    /// <summary>Last allocation time.</summary>
    public double AllocatedAt { get; private set; }

    /// <summary>Whether <paramref name="worker"/> held an attempt of it.</summary>
    public bool HeldOnceBy(string worker) => _holders.Contains(worker);

    internal void AllocateTo(string worker, int attempt, double at)
    {
        Worker = worker;
        Attempts = attempt;
        Acknowledged = false;
        Started = false;
        AllocatedAt = at;
        if (!_holders.Contains(worker)) _holders.Add(worker);
    }

    internal void Acknowledge() => Acknowledged = true;

    internal void Start() => Acknowledged = Started = true;

    internal void TakeBack()
    {
        Worker = null;
        Acknowledged = false;
        Started = false;
    }

    /// <summary>The task as a snapshot holds it.</summary>
    public SnapshotTask ToSnapshot() => new(TaskId, TaskName, TaskData, Priority, Requires, ArrivedAt, Sequence,
        Attempts, Worker, Acknowledged, Started, AllocatedAt, _holders.ToList());

    /// <summary>The task a snapshot holds (one of an older build names no holders but its current worker).</summary>
    public static QueuedTask FromSnapshot(SnapshotTask t)
    {
        var task = new QueuedTask(
            new TaskAccepted(t.TaskId, t.TaskName, t.TaskData, t.Priority, t.Requires, t.ArrivedAt), t.Sequence)
        {
            Attempts = t.Attempts,
            Worker = t.Worker,
            Acknowledged = t.Acknowledged,
            Started = t.Started,
            AllocatedAt = t.AllocatedAt,
        };
        if (t.Holders is { } holders) task._holders.AddRange(holders);
        else if (t.Worker is { } worker) task._holders.Add(worker);
        return task;
    }
}
