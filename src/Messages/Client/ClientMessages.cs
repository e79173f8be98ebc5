using CeleryActors.Messages.Allocator;

namespace CeleryActors.Messages.Client;

/// <summary>
/// Marker of the messages only the actor client and a node's client gateway exchange (SPEC §9). Bound to the
/// <c>ClientSerializer</c> of src/Protocol on both sides. The allocator's own records (register, heartbeat,
/// status, statistics) cross the same wire through the allocator serializer.
/// </summary>
public interface IClientProtocol;

/// <summary>
/// Publish a task through the client, like a producer's message on <c>P + tasks:{queue}</c>. The gateway turns it
/// into a <see cref="SubmitTask"/> stamped with the node's arrival time; answered with <see cref="TaskPublished"/>.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="TaskId">The task id. The client always sets it (generating one when the caller gave none), so a
/// retried call is a duplicate the queue ignores, not a second task.</param>
/// <param name="TaskName">The task's name.</param>
/// <param name="TaskData">The task data as JSON text; <c>null</c> when there is none.</param>
/// <param name="Priority">0-9, 9 most urgent.</param>
/// <param name="Requires">Capabilities a worker needs, if any.</param>
/// <param name="PublishedAt">The caller's publish time (Unix seconds), for the latency histogram.</param>
public sealed record PublishTask(
    string Queue,
    string TaskId,
    string TaskName,
    string TaskData,
    int Priority,
    IReadOnlyDictionary<string, CapabilityValue>? Requires,
    double? PublishedAt) : IClientProtocol;

/// <summary>The queue entity has taken a <see cref="PublishTask"/> (accepted it, or ignored it as a duplicate).</summary>
/// <param name="Queue">The queue.</param>
/// <param name="TaskId">The task id.</param>
public sealed record TaskPublished(string Queue, string TaskId) : IClientProtocol;

/// <summary>The node has handed a metrics command to its metrics recorder.</summary>
/// <param name="Command">The command's kind: <c>task_execution</c>, <c>queue_length</c>, <c>pubsub_message</c>.</param>
public sealed record MetricsCommandAccepted(string Command) : IClientProtocol;

/// <summary>Asks for every registered worker (like <c>GET /api/workers</c>); answered with <see cref="Workers"/>.</summary>
public sealed record GetWorkers : IClientProtocol;

/// <summary>Every registered worker, ordered by name.</summary>
/// <param name="All">The workers' statuses.</param>
public sealed record Workers(IReadOnlyList<WorkerStatus> All) : IClientProtocol;

/// <summary>Asks for every known queue's statistics (like <c>GET /api/queues</c>); answered with <see cref="Queues"/>.</summary>
public sealed record GetQueues : IClientProtocol;

/// <summary>Every known queue's statistics, ordered by name.</summary>
/// <param name="All">The statistics.</param>
public sealed record Queues(IReadOnlyList<QueueStats> All) : IClientProtocol;

/// <summary>
/// Asks for one queue's statistics (like <c>GET /api/queues/{queue}</c>); answered with
/// <see cref="QueueStats"/>, or <see cref="QueueNotFound"/> for a queue nobody published to or registered for.
/// </summary>
/// <param name="Queue">The queue.</param>
public sealed record GetQueue(string Queue) : IClientProtocol;

/// <summary>
/// Asks for a queue's newest allocation events (like <c>GET /api/queues/{queue}/history?limit=N</c>); answered with
/// <see cref="QueueHistory"/>, or <see cref="QueueNotFound"/>.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="Limit">At most this many entries, newest first (capped at 1000).</param>
public sealed record GetHistory(string Queue, int Limit) : IClientProtocol;

/// <summary>No queue of that name exists (asking did not create it).</summary>
/// <param name="Queue">The queue asked for.</param>
public sealed record QueueNotFound(string Queue) : IClientProtocol;

/// <summary>The gateway could not answer (an entity or Redis did not answer in time on the node).</summary>
/// <param name="Request">What was asked.</param>
/// <param name="Reason">Why it failed.</param>
public sealed record GatewayFailure(string Request, string Reason) : IClientProtocol;

/// <summary>
/// A call of the actor client with its correlation id, answered with a <see cref="ClientResponse"/> of the same
/// id. All calls of one client come from one long-lived actor, so a node's receptionist keeps one response
/// tunnel for them rather than creating one per call.
/// </summary>
/// <param name="Id">The correlation id, unique per client.</param>
/// <param name="Request">The call: any message the gateway takes.</param>
public sealed record ClientRequest(long Id, object Request) : IClientProtocol;

/// <summary>The gateway's answer to a <see cref="ClientRequest"/>.</summary>
/// <param name="Id">The request's correlation id.</param>
/// <param name="Response">The reply the bare request would have had.</param>
public sealed record ClientResponse(long Id, object Response) : IClientProtocol;
