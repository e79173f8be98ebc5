namespace CeleryActors.Messages.Allocator;

/// <summary>
/// Publish a task on a queue (wire: <c>P + tasks:{queue}</c>). A task id that is pending or allocated already
/// is a duplicate and is ignored; one that finished is never allocated again.
/// </summary>
/// <param name="Queue">The queue, taken from the channel name.</param>
/// <param name="TaskId">The producer's id, or one derived from the payload bytes and channel.</param>
/// <param name="TaskName">The task's name.</param>
/// <param name="TaskData">The task data as JSON text (<c>null</c> when absent), passed to the worker as is.</param>
/// <param name="Priority">0-9, 9 most urgent.</param>
/// <param name="Requires">Capabilities a worker needs, if any.</param>
/// <param name="PublishedAt">The producer's publish time (Unix seconds), if it said.</param>
/// <param name="ArrivedAt">When the node received it (Unix seconds): allocation duration starts here.</param>
/// <param name="Replayed">Taken again by the pub/sub intake (<see cref="IPubSubCommand.Replayed"/>).</param>
public sealed record SubmitTask(
    string Queue,
    string TaskId,
    string TaskName,
    string TaskData,
    int Priority,
    IReadOnlyDictionary<string, CapabilityValue>? Requires,
    double? PublishedAt,
    double ArrivedAt,
    bool Replayed = false) : IQueueCommand, IPubSubCommand;

/// <summary>
/// A queue's answer to a <see cref="SubmitTask"/> from the actor client, sent once the acceptance (or the earlier
/// one it duplicates) is in the journal.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Accepted">True when it was new; false for a duplicate, which was ignored.</param>
public sealed record TaskSubmitted(string Queue, string TaskId, bool Accepted) : IAllocatorProtocol;

/// <summary>The queue refused a <see cref="SubmitTask"/>: it holds as many waiting tasks as it may.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="TaskId">The task id.</param>
/// <param name="Reason">Why, for the caller.</param>
public sealed record TaskRefused(string Queue, string TaskId, string Reason) : IAllocatorProtocol;

/// <summary>A worker's progress report about one task, routed to the queue that allocated it.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The reporting worker.</param>
/// <param name="Progress">What happened.</param>
/// <param name="Runtime">Execution time in seconds, on succeeded/failed.</param>
/// <param name="Exception">The exception type, on failed.</param>
/// <param name="Replayed">Sent again after a node died (a survivor's replay): a report the queue ignores is not
/// counted again.</param>
/// <param name="Direct">Taken from the wire by the queue's node (the report named its queue), not passed on by the
/// worker's entity: the queue tells that entity of the slot an outcome frees, and that the worker spoke.</param>
public sealed record ReportTaskProgress(
    string Queue, string TaskId, string Worker, TaskProgress Progress, double? Runtime, string? Exception,
    bool Replayed = false, bool Direct = false)
    : IQueueCommand;

/// <summary>Asks a queue for its statistics; answered with <see cref="QueueStats"/>.</summary>
/// <param name="Queue">The queue.</param>
public sealed record GetQueueStats(string Queue) : IQueueCommand;

/// <summary>Asks a queue for its newest allocation events; answered with <see cref="QueueHistory"/>.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Limit">At most this many, newest first.</param>
public sealed record GetQueueHistory(string Queue, int Limit) : IQueueCommand;

/// <summary>A queue's statistics (SPEC §4.2).</summary>
/// <param name="Queue">The queue.</param>
/// <param name="PendingByPriority">Waiting tasks per priority (only priorities that have some).</param>
/// <param name="Pending">Waiting tasks in all.</param>
/// <param name="Consumers">Online workers serving the queue.</param>
/// <param name="InFlight">Tasks allocated and not finished now.</param>
/// <param name="Accepted">Tasks accepted since the queue began.</param>
/// <param name="Allocated">Allocations made (a reallocation counts again).</param>
/// <param name="Succeeded">Tasks that succeeded.</param>
/// <param name="Failed">Tasks that failed.</param>
/// <param name="Requeued">Tasks returned to the queue (ack timeout, worker offline).</param>
/// <param name="Duplicates">Duplicate publications ignored since this entity started.</param>
/// <param name="Unwritten">Events applied and not yet stored in the journal (the statistics run a write ahead of
/// it); 0 when everything counted above would survive a restart.</param>
public sealed record QueueStats(
    string Queue,
    IReadOnlyDictionary<int, int> PendingByPriority,
    int Pending,
    int Consumers,
    int InFlight,
    long Accepted,
    long Allocated,
    long Succeeded,
    long Failed,
    long Requeued,
    long Duplicates,
    int Unwritten = 0) : IAllocatorProtocol;

/// <summary>One entry of a queue's allocation history.</summary>
/// <param name="Sequence">The event's sequence number in the queue's journal.</param>
/// <param name="Event">accepted, allocated, acknowledged, started, succeeded, failed, requeued.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker concerned, if any.</param>
/// <param name="Attempt">The delivery attempt, for allocations.</param>
/// <param name="At">When (Unix seconds).</param>
/// <param name="Detail">Requeue reason or exception type, if any.</param>
public sealed record HistoryEntry(
    long Sequence, string Event, string TaskId, string? Worker, int? Attempt, double At, string? Detail);

/// <summary>A queue's newest history entries, newest first.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Entries">The entries.</param>
public sealed record QueueHistory(string Queue, IReadOnlyList<HistoryEntry> Entries) : IAllocatorProtocol;
