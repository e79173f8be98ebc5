using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Protocol;
using StackExchange.Redis;

namespace CeleryActors.Host.Http;

/// <summary>
/// The allocator's JSON queries (SPEC §4.2), answered by the queue and worker entities through Ask with a
/// timeout: <c>/api/workers</c>, <c>/api/queues</c>, <c>/api/queues/{queue}</c>,
/// <c>/api/queues/{queue}/history?limit=N</c>, and <c>/api/entities</c> (the queue and worker entities this node
/// hosts, from its shard regions). Field names are snake_case.
/// </summary>
public static class AllocatorEndpoints
{
    /// <summary>How long an entity may take to answer.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    /// <summary>History entries returned when the query names no limit.</summary>
    public const int DefaultHistoryLimit = 50;

    /// <summary>The most history entries one query returns.</summary>
    public const int MaxHistoryLimit = 1_000;

    // One JSON shape for the HTTP queries and the command-line tool (src/Messages/Client/QueryJson).
    private static readonly JsonSerializerOptions Json = QueryJson.Options;

    /// <summary>Maps the endpoints.</summary>
    public static WebApplication MapAllocatorEndpoints(this WebApplication app)
    {
        app.MapGet("/api/workers", WorkersAsync);
        app.MapGet("/api/queues", QueuesAsync);
        app.MapGet("/api/queues/{queue}", QueueAsync);
        app.MapGet("/api/queues/{queue}/history", HistoryAsync);
        app.MapGet("/api/entities", EntitiesAsync);
        return app;
    }

    // Where the cluster placed each entity: each node answers for its own regions (sharding's region state).
    private static async Task<IResult> EntitiesAsync(IRequiredActor<QueueRegion> queueRegion,
        IRequiredActor<WorkerRegion> workerRegion, ActorSystem system, CancellationToken token) =>
        await Answer(async () =>
        {
            async Task<List<string>> Hosted(IActorRef region) =>
                (await region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, AskTimeout, token)).Shards
                    .SelectMany(s => s.EntityIds).Order(StringComparer.Ordinal).ToList();
            var queues = await Hosted(await queueRegion.GetAsync(token));
            var workers = await Hosted(await workerRegion.GetAsync(token));
            return Results.Json(new { node = Cluster.Get(system).SelfAddress.ToString(), queues, workers }, Json);
        });

    private static async Task<IResult> WorkersAsync(IRequiredActor<WorkerRegion> region, IConnectionMultiplexer redis,
        AllocatorSettings settings, CancellationToken token) =>
        await Answer(async () =>
        {
            var workers = await region.GetAsync(token);
            var names = (await redis.GetDatabase().SetMembersAsync(settings.WorkersKey)).Select(n => n.ToString()).Order();
            var statuses = await Task.WhenAll(names.Select(n => workers.Ask<WorkerStatus>(new GetWorkerStatus(n), AskTimeout, token)));
            return Results.Json(QueryJson.Workers(statuses.Where(s => s.Registered)), Json);
        });

    private static async Task<IResult> QueuesAsync(IRequiredActor<QueueRegion> region, IConnectionMultiplexer redis,
        AllocatorSettings settings, CancellationToken token) =>
        await Answer(async () =>
        {
            var queues = await region.GetAsync(token);
            var names = (await redis.GetDatabase().SetMembersAsync(settings.QueuesKey)).Select(n => n.ToString()).Order();
            var stats = await Task.WhenAll(names.Select(n => queues.Ask<QueueStats>(new GetQueueStats(n), AskTimeout, token)));
            return Results.Json(QueryJson.Queues(stats), Json);
        });

    private static async Task<IResult> QueueAsync(string queue, IRequiredActor<QueueRegion> region,
        IConnectionMultiplexer redis, AllocatorSettings settings, CancellationToken token) =>
        await Answer(async () =>
        {
            if (!await Known(redis, settings, queue)) return NotFound(queue);
            var stats = await (await region.GetAsync(token)).Ask<QueueStats>(new GetQueueStats(queue), AskTimeout, token);
            return Results.Json(QueryJson.Queue(stats), Json);
        });

    private static async Task<IResult> HistoryAsync(string queue, int? limit, IRequiredActor<QueueRegion> region,
        IConnectionMultiplexer redis, AllocatorSettings settings, CancellationToken token) =>
        await Answer(async () =>
        {
            if (limit is < 0) return Results.Json(new { error = "limit must be 0 or more" }, Json, statusCode: 400);
            if (!await Known(redis, settings, queue)) return NotFound(queue);
            var n = Math.Min(limit ?? DefaultHistoryLimit, MaxHistoryLimit);
            var history = await (await region.GetAsync(token)).Ask<QueueHistory>(new GetQueueHistory(queue, n), AskTimeout, token);
            return Results.Json(QueryJson.History(history with { Queue = queue }), Json);
        });

    // A queue nobody has published to or registered for does not exist: asking for it must not create it.
    private static async Task<bool> Known(IConnectionMultiplexer redis, AllocatorSettings settings, string queue) =>
        await redis.GetDatabase().SetContainsAsync(settings.QueuesKey, queue);

    private static IResult NotFound(string queue) =>
        Results.Json(new { error = $"no queue '{queue}'" }, Json, statusCode: StatusCodes.Status404NotFound);

    private static async Task<IResult> Answer(Func<Task<IResult>> query)
    {
        try
        {
            return await query();
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or RedisException)
        {
            // No exception text: it can name internal addresses. The node's log has it.
            return Results.Json(new { error = "the allocator did not answer in time", detail = e.GetType().Name }, Json,
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
