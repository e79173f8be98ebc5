using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Protocol;
using StackExchange.Redis;

namespace CeleryActors.Host.Http;

/// <summary>
/// The allocator's JSON queries (SPEC §4.2), answered through <see cref="AllocatorQueries"/> (the client gateway
/// answers the same queries with the same class): <c>/api/workers</c>, <c>/api/queues</c>, <c>/api/queues/{queue}</c>,
/// <c>/api/queues/{queue}/history?limit=N</c>, and <c>/api/entities</c> (the queue and worker entities this node
/// hosts, from its shard regions). Field names are snake_case.
/// </summary>
public static class AllocatorEndpoints
{
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
                (await region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, AllocatorQueries.AskTimeout, token)).Shards
                    .SelectMany(s => s.EntityIds).Order(StringComparer.Ordinal).ToList();
            var queues = await Hosted(await queueRegion.GetAsync(token));
            var workers = await Hosted(await workerRegion.GetAsync(token));
            return Results.Json(new { node = Cluster.Get(system).SelfAddress.ToString(), queues, workers }, Json);
        });

    private static async Task<IResult> WorkersAsync([AsParameters] QueryServices services, CancellationToken token) =>
        await Answer(async () =>
        {
            var workers = await (await services.QueriesAsync(token)).WorkersAsync(token);
            return Results.Json(QueryJson.Workers(workers.All), Json);
        });

    private static async Task<IResult> QueuesAsync([AsParameters] QueryServices services, CancellationToken token) =>
        await Answer(async () =>
        {
            var queues = await (await services.QueriesAsync(token)).QueuesAsync(token);
            return Results.Json(QueryJson.Queues(queues.All), Json);
        });

    private static async Task<IResult> QueueAsync(string queue, [AsParameters] QueryServices services,
        CancellationToken token) =>
        await Answer(async () =>
            await (await services.QueriesAsync(token)).QueueAsync(queue, token) is { } stats
                ? Results.Json(QueryJson.Queue(stats), Json)
                : NotFound(queue));

    private static async Task<IResult> HistoryAsync(string queue, int? limit, [AsParameters] QueryServices services,
        CancellationToken token) =>
        await Answer(async () =>
        {
            if (limit is < 0) return Results.Json(new { error = "limit must be 0 or more" }, Json, statusCode: 400);
            var queries = await services.QueriesAsync(token);
            return await queries.HistoryAsync(queue, limit ?? AllocatorQueries.DefaultHistoryLimit, token) is { } history
                ? Results.Json(QueryJson.History(history), Json)
                : NotFound(queue);
        });

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

    /// <summary>What every allocator query needs, bound from the services per request.</summary>
    internal sealed record QueryServices(IRequiredActor<QueueRegion> QueueRegion, IRequiredActor<WorkerRegion> WorkerRegion,
        IConnectionMultiplexer Redis, AllocatorSettings Settings)
    {
        /// <summary>The queries, once both regions are started.</summary>
        public async Task<AllocatorQueries> QueriesAsync(CancellationToken token) =>
            new(await QueueRegion.GetAsync(token), await WorkerRegion.GetAsync(token), Redis, Settings);
    }
}
