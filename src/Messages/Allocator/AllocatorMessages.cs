namespace CeleryActors.Messages.Allocator;

/// <summary>
/// Marker of every allocator message that crosses nodes or is persisted (commands, queries, replies, events,
/// snapshots). The host binds it to the allocator's string-manifest JSON serializer, never the default one.
/// </summary>
public interface IAllocatorProtocol;

/// <summary>A message for one queue entity; the queue name is the entity id.</summary>
public interface IWithQueueId
{
    /// <summary>The queue.</summary>
    string Queue { get; }
}

/// <summary>A message for one worker entity; the worker name is the entity id.</summary>
public interface IWithWorkerId
{
    /// <summary>The worker.</summary>
    string Worker { get; }
}

/// <summary>A command that producers and workers also send on Redis pub/sub, where one node takes each message.</summary>
public interface IPubSubCommand
{
    /// <summary>Taken again by the pub/sub intake after the nodes that take messages changed: it may repeat one
    /// already handled (the entity ignores what it knows, and counts nothing twice), and it is not news of the
    /// worker's liveness.</summary>
    bool Replayed { get; }
}

/// <summary>A command or query handled by a queue entity.</summary>
public interface IQueueCommand : IWithQueueId, IAllocatorProtocol;

/// <summary>A command or query handled by a worker entity.</summary>
public interface IWorkerCommand : IWithWorkerId, IAllocatorProtocol;

/// <summary>
/// A capability of a worker or a requirement of a task (SPEC §4.1): a number (met by a worker number greater
/// than or equal to it) or a string (met by an equal string). Exactly one of the two is set.
/// </summary>
/// <param name="Number">The numeric value, or null.</param>
/// <param name="Text">The string value, or null.</param>
public sealed record CapabilityValue(double? Number, string? Text)
{
    /// <summary>A numeric value.</summary>
    public static CapabilityValue Of(double number) => new(number, null);

    /// <summary>A string value.</summary>
    public static CapabilityValue Of(string text) => new(null, text);

    /// <summary>Whether this worker capability meets <paramref name="requirement"/>.</summary>
    public bool Meets(CapabilityValue requirement) =>
        requirement.Number is { } needed
            ? Number is { } have && have >= needed
            : Text is not null && string.Equals(Text, requirement.Text, StringComparison.Ordinal);
}

/// <summary>What a worker reported about a task on <c>task-status</c>.</summary>
public enum TaskProgress
{
    /// <summary>The worker got the assignment: the acknowledgement.</summary>
    Received,

    /// <summary>The worker started running it.</summary>
    Started,

    /// <summary>It finished normally.</summary>
    Succeeded,

    /// <summary>It raised an exception.</summary>
    Failed,
}

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
public sealed record ReportTaskProgress(
    string Queue, string TaskId, string Worker, TaskProgress Progress, double? Runtime, string? Exception,
    bool Replayed = false)
    : IQueueCommand;

/// <summary>
/// What a queue has waiting for one worker: its most urgent task that the worker's capabilities meet, and how many
/// such tasks wait. A worker compares the offers of its queues to decide where a free slot goes.
/// </summary>
/// <param name="Priority">The most urgent such task's priority, 0-9.</param>
/// <param name="ArrivedAt">When that task arrived (Unix seconds): among equal priorities the oldest goes first.</param>
/// <param name="Count">Tasks waiting that the worker could take.</param>
public sealed record TaskOffer(int Priority, double ArrivedAt, int Count);

/// <summary>
/// An online worker serves the queue, and asks what it holds there (sent when it comes online and every announce
/// interval after). The queue counts it as a consumer and answers with <see cref="QueueSynced"/> once everything it
/// decided before is written: a cut of the slot protocol that corrects any message lost on either side.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Capabilities">Its capabilities.</param>
/// <param name="Epoch">The worker entity's incarnation: grants of older incarnations are ignored.</param>
/// <param name="Stamp">The worker's count of slots granted to this queue so far, echoed in the answer.</param>
/// <param name="Free">Its free slots now (pool minus held and promised).</param>
/// <param name="Held">Its unfinished tasks over all queues now (least loaded first).</param>
public sealed record WorkerServesQueue(
    string Queue, string Worker, IReadOnlyDictionary<string, CapabilityValue> Capabilities, long Epoch, long Stamp,
    int Free, int Held)
    : IQueueCommand;

/// <summary>A queue's answer to <see cref="WorkerServesQueue"/>: what the worker held there at that moment.</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Queue">The queue.</param>
/// <param name="Epoch">The epoch of the announcement answered.</param>
/// <param name="Stamp">Its stamp.</param>
/// <param name="Held">Task ids the worker held in the queue.</param>
/// <param name="Offer">What waits for the worker there, if anything.</param>
public sealed record QueueSynced(
    string Worker, string Queue, long Epoch, long Stamp, IReadOnlyList<string> Held, TaskOffer? Offer)
    : IWorkerCommand;

/// <summary>A queue has tasks waiting that the worker could take (or, with no offer, no longer has).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Queue">The queue.</param>
/// <param name="Offer">What waits, or null.</param>
public sealed record TasksWaiting(string Worker, string Queue, TaskOffer? Offer) : IWorkerCommand;

/// <summary>
/// A worker gives a queue <paramref name="Count"/> of its free slots: the queue allocates to it up to that many of
/// its most urgent tasks the worker can take and returns the rest (<see cref="SlotsReturned"/>). Only the worker
/// entity grants, so the sum over its queues never exceeds its pool.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Epoch">The granting incarnation.</param>
/// <param name="Count">Slots given, at least 1.</param>
/// <param name="Free">Free slots the worker has left after this grant.</param>
/// <param name="Held">Its unfinished tasks over all queues.</param>
public sealed record GrantSlots(string Queue, string Worker, long Epoch, int Count, int Free, int Held)
    : IQueueCommand;

/// <summary>Slots of a grant the queue did not use (nothing it had fitted).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Queue">The queue.</param>
/// <param name="Count">Slots returned.</param>
/// <param name="Next">What still waits for the worker, if anything.</param>
public sealed record SlotsReturned(string Worker, string Queue, int Count, TaskOffer? Next) : IWorkerCommand;

/// <summary>A worker's room changed in a way a queue must know: it is full (offers to it wait), or has room again.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Free">Its free slots now.</param>
/// <param name="Held">Its unfinished tasks over all queues.</param>
public sealed record WorkerRoomChanged(string Queue, string Worker, int Free, int Held) : IQueueCommand;

/// <summary>A worker entity gives a task back to its queue: the worker's heartbeat no longer lists it.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Worker">The worker that held it.</param>
/// <param name="Reason">Why, for the history (<c>not_running</c>).</param>
public sealed record ReturnTask(string Queue, string TaskId, string Worker, string Reason) : IQueueCommand;

/// <summary>A worker no longer serves the queue (offline, unregistered, re-registered without it): its
/// unfinished tasks return to the queue ahead of newer tasks of their priority.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Worker">The worker.</param>
/// <param name="Reason">Why, for the history: <c>worker_offline</c>, <c>unregistered</c>, <c>reregistered</c>.</param>
public sealed record WorkerLeftQueue(string Queue, string Worker, string Reason) : IQueueCommand;

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

/// <summary>Register (or re-register) a worker (wire: <c>{"type":"register"}</c> on <c>workers:control</c>).</summary>
/// <param name="Worker">The worker's name.</param>
/// <param name="Queues">The queues it consumes, at least one.</param>
/// <param name="Capabilities">Its capabilities.</param>
/// <param name="PoolSize">Its pool size, at least 1: its unfinished tasks over all its queues never exceed it.</param>
/// <param name="Replayed">Taken again by the pub/sub intake (<see cref="IPubSubCommand.Replayed"/>).</param>
/// <param name="Instance">The worker process's identity (e.g. start time and pid), if it says: a registration with
/// another instance than the known one means the process restarted, and what it held goes back to its queues.</param>
public sealed record RegisterWorker(
    string Worker, IReadOnlyList<string> Queues, IReadOnlyDictionary<string, CapabilityValue> Capabilities,
    int PoolSize, bool Replayed = false, string? Instance = null) : IWorkerCommand, IPubSubCommand;

/// <summary>A worker is alive (wire: <c>{"type":"heartbeat"}</c>).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Replayed">Taken again by the pub/sub intake (<see cref="IPubSubCommand.Replayed"/>).</param>
/// <param name="Running">The task ids the worker holds, if it says: a task allocated to it longer than the ack
/// timeout ago that is not listed goes back to its queue. Null: the worker does not report them.</param>
public sealed record WorkerHeartbeat(string Worker, bool Replayed = false, IReadOnlyList<string>? Running = null)
    : IWorkerCommand, IPubSubCommand;

/// <summary>A worker leaves (wire: <c>{"type":"unregister"}</c>); its unfinished tasks return to their queues.</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Replayed">Taken again by the pub/sub intake (<see cref="IPubSubCommand.Replayed"/>).</param>
public sealed record UnregisterWorker(string Worker, bool Replayed = false) : IWorkerCommand, IPubSubCommand;

/// <summary>A status report from <c>task-status</c>; the worker entity routes it to the task's queue.</summary>
/// <param name="Worker">The reporting worker.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Progress">What happened.</param>
/// <param name="Runtime">Execution time in seconds, on succeeded/failed.</param>
/// <param name="Exception">The exception type, on failed.</param>
/// <param name="Replayed">Taken again by the pub/sub intake (<see cref="IPubSubCommand.Replayed"/>).</param>
/// <param name="Queue">The task's queue, if the worker says (two queues may use the same task id).</param>
public sealed record WorkerTaskStatus(
    string Worker, string TaskId, TaskProgress Progress, double? Runtime, string? Exception, bool Replayed = false,
    string? Queue = null)
    : IWorkerCommand, IPubSubCommand;

/// <summary>A queue allocated a task to the worker on one of its granted slots, and the allocation is stored (so the
/// worker's reports can be routed back to it).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Queue">The queue that allocated it.</param>
/// <param name="Next">On the last allocation of a grant: what still waits for the worker there, if anything.</param>
public sealed record TaskAssignedToWorker(string Worker, string TaskId, string Queue, TaskOffer? Next = null)
    : IWorkerCommand;

/// <summary>A task the worker held is no longer its own (finished, or taken back by the queue).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Queue">The queue that took it back or finished it.</param>
public sealed record TaskReleasedFromWorker(string Worker, string TaskId, string Queue) : IWorkerCommand;

/// <summary>Asks a worker entity for its status; answered with <see cref="WorkerStatus"/>.</summary>
/// <param name="Worker">The worker.</param>
public sealed record GetWorkerStatus(string Worker) : IWorkerCommand;

/// <summary>A worker's status (SPEC §4.2).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Registered">Whether it ever registered (false: only heard of).</param>
/// <param name="Queues">Its queues.</param>
/// <param name="Capabilities">Its capabilities.</param>
/// <param name="PoolSize">Its pool size.</param>
/// <param name="UnfinishedTasks">Tasks allocated to it and not finished, over all its queues.</param>
/// <param name="Online">Whether it is online.</param>
/// <param name="LastHeartbeat">When it was last heard from (Unix seconds), if ever since this entity started.</param>
/// <param name="Instance">The worker process's instance, if it registered with one.</param>
public sealed record WorkerStatus(
    string Worker,
    bool Registered,
    IReadOnlyList<string> Queues,
    IReadOnlyDictionary<string, CapabilityValue> Capabilities,
    int PoolSize,
    int UnfinishedTasks,
    bool Online,
    double? LastHeartbeat,
    string? Instance = null) : IAllocatorProtocol;
