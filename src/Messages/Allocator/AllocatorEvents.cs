using System.Text.Json.Serialization;

namespace CeleryActors.Messages.Allocator;

/// <summary>An event of a queue entity's journal (persistence id <c>queue-{name}</c>). The discriminators name
/// each event inside a <see cref="QueueEventBatch"/>; they are written to the journal and must not change.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "event")]
[JsonDerivedType(typeof(TaskAccepted), "accepted")]
[JsonDerivedType(typeof(TaskAllocated), "allocated")]
[JsonDerivedType(typeof(TaskAcknowledged), "acknowledged")]
[JsonDerivedType(typeof(TaskStarted), "started")]
[JsonDerivedType(typeof(TaskSucceeded), "succeeded")]
[JsonDerivedType(typeof(TaskFailed), "failed")]
[JsonDerivedType(typeof(TaskRequeued), "requeued")]
public interface IQueueEvent : IAllocatorProtocol
{
    /// <summary>The task the event is about.</summary>
    string TaskId { get; }

    /// <summary>When it happened (Unix seconds).</summary>
    double At { get; }
}

/// <summary>A task was accepted into the queue's mailbox.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="TaskName">Its name.</param>
/// <param name="TaskData">Its data as JSON text.</param>
/// <param name="Priority">0-9.</param>
/// <param name="Requires">Required capabilities, if any.</param>
/// <param name="At">Arrival time (Unix seconds).</param>
public sealed record TaskAccepted(
    string TaskId, string TaskName, string TaskData, int Priority,
    IReadOnlyDictionary<string, CapabilityValue>? Requires, double At) : IQueueEvent;

/// <summary>A task was allocated to a worker (delivery attempt <paramref name="Attempt"/>).</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Attempt">1 on first delivery.</param>
/// <param name="At">Allocation time.</param>
public sealed record TaskAllocated(string TaskId, string Worker, int Attempt, double At) : IQueueEvent;

/// <summary>The worker acknowledged (<c>received</c>) its assignment.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker.</param>
/// <param name="At">When.</param>
public sealed record TaskAcknowledged(string TaskId, string Worker, double At) : IQueueEvent;

/// <summary>The worker started the task.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker.</param>
/// <param name="At">When.</param>
public sealed record TaskStarted(string TaskId, string Worker, double At) : IQueueEvent;

/// <summary>The task succeeded; it is never allocated again.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Runtime">Execution time, if reported.</param>
/// <param name="At">When.</param>
public sealed record TaskSucceeded(string TaskId, string Worker, double? Runtime, double At) : IQueueEvent;

/// <summary>The task failed; it is never allocated again.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Runtime">Execution time, if reported.</param>
/// <param name="Exception">The exception type.</param>
/// <param name="At">When.</param>
public sealed record TaskFailed(string TaskId, string Worker, double? Runtime, string Exception, double At)
    : IQueueEvent;

/// <summary>An allocated task went back to the queue, ahead of newer tasks of its priority.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker it was taken from.</param>
/// <param name="Reason"><c>ack_timeout</c>, <c>worker_offline</c>, <c>unregistered</c>, <c>reregistered</c>,
/// <c>worker_restarted</c> (a new instance registered), <c>not_running</c> (its heartbeat no longer lists it).</param>
/// <param name="At">When.</param>
public sealed record TaskRequeued(string TaskId, string Worker, string Reason, double At) : IQueueEvent;

/// <summary>
/// The events a queue entity decided while its previous journal write was under way, stored as one journal
/// entry (group commit): one write per round trip instead of one per event, in the order they were decided.
/// </summary>
/// <param name="Events">The events, oldest first.</param>
public sealed record QueueEventBatch(IReadOnlyList<IQueueEvent> Events) : IAllocatorProtocol;

/// <summary>A task of a queue snapshot.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="TaskName">Its name.</param>
/// <param name="TaskData">Its data as JSON text.</param>
/// <param name="Priority">0-9.</param>
/// <param name="Requires">Required capabilities.</param>
/// <param name="ArrivedAt">Arrival time.</param>
/// <param name="Sequence">Arrival order within the queue.</param>
/// <param name="Attempts">Deliveries so far.</param>
/// <param name="Worker">The worker holding it, when in flight.</param>
/// <param name="Acknowledged">Whether the holder acknowledged it.</param>
/// <param name="Started">Whether the holder started it.</param>
/// <param name="AllocatedAt">When it was last allocated.</param>
/// <param name="Holders">Every worker that held an attempt of it (null in snapshots older than this field: then the
/// current holder only).</param>
public sealed record SnapshotTask(
    string TaskId, string TaskName, string TaskData, int Priority,
    IReadOnlyDictionary<string, CapabilityValue>? Requires, double ArrivedAt, long Sequence, int Attempts,
    string? Worker, bool Acknowledged, bool Started, double AllocatedAt, IReadOnlyList<string>? Holders = null);

/// <summary>The whole state of a queue entity, saved every N events to bound recovery.</summary>
/// <param name="Pending">Waiting tasks.</param>
/// <param name="InFlight">Allocated, unfinished tasks.</param>
/// <param name="Finished">Ids of the newest finished tasks (bounded), which are never allocated again.</param>
/// <param name="NextSequence">The next arrival sequence.</param>
/// <param name="EventCount">Events applied so far (the journal's sequence number at the snapshot).</param>
/// <param name="Accepted">Statistic.</param>
/// <param name="Allocated">Statistic.</param>
/// <param name="Succeeded">Statistic.</param>
/// <param name="Failed">Statistic.</param>
/// <param name="Requeued">Statistic.</param>
/// <param name="History">Newest history entries, oldest first.</param>
public sealed record QueueSnapshot(
    IReadOnlyList<SnapshotTask> Pending,
    IReadOnlyList<SnapshotTask> InFlight,
    IReadOnlyList<string> Finished,
    long NextSequence,
    long EventCount,
    long Accepted,
    long Allocated,
    long Succeeded,
    long Failed,
    long Requeued,
    IReadOnlyList<HistoryEntry> History) : IAllocatorProtocol;

/// <summary>A worker entity's journal (persistence id <c>worker-{name}</c>): its registration.</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Queues">Its queues.</param>
/// <param name="Capabilities">Its capabilities.</param>
/// <param name="PoolSize">Its pool size.</param>
/// <param name="Instance">The worker process's instance, if it said.</param>
public sealed record WorkerRegistered(
    string Worker, IReadOnlyList<string> Queues, IReadOnlyDictionary<string, CapabilityValue> Capabilities,
    int PoolSize, string? Instance = null) : IAllocatorProtocol;

/// <summary>A worker entity with a registration started (recovered): its sequence number is the incarnation's
/// epoch, which its grants carry, so a queue can ignore grants of an incarnation that is gone.</summary>
/// <param name="Worker">The worker.</param>
public sealed record WorkerIncarnationStarted(string Worker) : IAllocatorProtocol;

/// <summary>The worker unregistered.</summary>
/// <param name="Worker">The worker.</param>
public sealed record WorkerUnregistered(string Worker) : IAllocatorProtocol;
