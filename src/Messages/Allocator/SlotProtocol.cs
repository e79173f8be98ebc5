namespace CeleryActors.Messages.Allocator;

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
    : IQueueToWorker;

/// <summary>A queue has tasks waiting that the worker could take (or, with no offer, no longer has).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Queue">The queue.</param>
/// <param name="Offer">What waits, or null.</param>
public sealed record TasksWaiting(string Worker, string Queue, TaskOffer? Offer) : IQueueToWorker;

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
public sealed record SlotsReturned(string Worker, string Queue, int Count, TaskOffer? Next) : IQueueToWorker;

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

/// <summary>A queue allocated a task to the worker on one of its granted slots, and the allocation is stored (so the
/// worker's reports can be routed back to it).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Queue">The queue that allocated it.</param>
/// <param name="Next">On the last allocation of a grant: what still waits for the worker there, if anything.</param>
public sealed record TaskAssignedToWorker(string Worker, string TaskId, string Queue, TaskOffer? Next = null)
    : IQueueToWorker;

/// <summary>A task the worker held is no longer its own (finished, or taken back by the queue).</summary>
/// <param name="Worker">The worker.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Queue">The queue that took it back or finished it.</param>
public sealed record TaskReleasedFromWorker(string Worker, string TaskId, string Queue) : IQueueToWorker;

/// <summary>
/// A queue took reports of the worker straight from the wire (<see cref="ReportTaskProgress.Direct"/>): the worker
/// spoke, and <paramref name="Started"/> of the tasks it holds there are started. Sent at once when the worker had
/// not been heard of there for a sweep interval, else with the queue's next sweep, so it costs no message per task.
/// </summary>
/// <param name="Worker">The worker.</param>
/// <param name="Queue">The queue.</param>
/// <param name="Started">Tasks the worker holds in the queue that it started.</param>
public sealed record WorkerHeard(string Worker, string Queue, int Started) : IQueueToWorker;
