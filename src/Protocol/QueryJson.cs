using System.Text.Encodings.Web;
using System.Text.Json;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Protocol;

/// <summary>
/// The JSON shape of the queries of SPEC §4.2, in one place: the node's HTTP endpoints and the command-line tool's
/// <c>--json</c> output both render through it, so they cannot drift apart. Field names are snake_case.
/// </summary>
public static class QueryJson
{
    /// <summary>The serializer options of the query JSON.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // Queue and worker names are echoed as they are; JSON needs no HTML escaping here.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary><c>GET /api/workers</c>: <c>{"workers": [...]}</c>.</summary>
    public static object Workers(IEnumerable<WorkerStatus> workers) => new { workers = workers.Select(Worker) };

    /// <summary><c>GET /api/queues</c>: <c>{"queues": [...]}</c>.</summary>
    public static object Queues(IEnumerable<QueueStats> queues) => new { queues = queues.Select(Queue) };

    /// <summary><c>GET /api/queues/{queue}</c>.</summary>
    public static object Queue(QueueStats s) => new
    {
        queue = s.Queue,
        pending = s.Pending,
        pending_by_priority = s.PendingByPriority.ToDictionary(p => p.Key.ToString(), p => p.Value),
        consumers = s.Consumers,
        in_flight = s.InFlight,
        accepted = s.Accepted,
        allocated = s.Allocated,
        succeeded = s.Succeeded,
        failed = s.Failed,
        requeued = s.Requeued,
        duplicates = s.Duplicates,
        unwritten = s.Unwritten,
    };

    /// <summary><c>GET /api/queues/{queue}/history</c>: <c>{"queue": ..., "events": [...]}</c>, newest first.</summary>
    public static object History(QueueHistory history) => new { queue = history.Queue, events = history.Entries };

    /// <summary>One worker of <c>GET /api/workers</c>.</summary>
    public static object Worker(WorkerStatus w) => new
    {
        worker = w.Worker,
        queues = w.Queues,
        capabilities = w.Capabilities.ToDictionary(c => c.Key, c => c.Value.Number is { } n ? (object)n : c.Value.Text!),
        pool_size = w.PoolSize,
        unfinished_tasks = w.UnfinishedTasks,
        online = w.Online,
        last_heartbeat = w.LastHeartbeat,
        instance = w.Instance,
    };

    /// <summary>Renders one of the shapes above as JSON text.</summary>
    public static string Serialize(object shape) => JsonSerializer.Serialize(shape, Options);
}
