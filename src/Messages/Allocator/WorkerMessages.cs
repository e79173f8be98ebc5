namespace CeleryActors.Messages.Allocator;

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
