using Akka.Actor;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The allocator's read queries (SPEC §4.2), one implementation for the HTTP endpoints and the client gateway.
/// The queues and workers that exist are the members of their Redis sets; each one's figures come from its entity,
/// asked through the shard region with <see cref="AskTimeout"/>. An Ask that times out, and a failed Redis read,
/// surface as the task's exception: each caller answers that in its own protocol.
/// </summary>
/// <param name="queues">The queue region.</param>
/// <param name="workers">The worker region.</param>
/// <param name="redis">The node's Redis connection.</param>
/// <param name="settings">The allocator's settings (the names of the sets).</param>
public sealed class AllocatorQueries(IActorRef queues, IActorRef workers, IConnectionMultiplexer redis,
    AllocatorSettings settings)
{
    /// <summary>How long an entity may take to answer.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    /// <summary>History entries returned when the query names no limit.</summary>
    public const int DefaultHistoryLimit = 50;

    /// <summary>The most history entries one query returns.</summary>
    public const int MaxHistoryLimit = 1_000;

    /// <summary>Every registered worker, by name.</summary>
    public async Task<Workers> WorkersAsync(CancellationToken token = default)
    {
        var names = await MembersAsync(settings.WorkersKey);
        var statuses = await Task.WhenAll(names.Select(n => WorkerAsync(n, token)));
        return new Workers(statuses.Where(s => s.Registered).ToList());
    }

    /// <summary>One worker's status (<see cref="WorkerStatus.Registered"/> false when it never registered).</summary>
    public Task<WorkerStatus> WorkerAsync(string worker, CancellationToken token = default) =>
        workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), AskTimeout, token);

    /// <summary>Every queue, by name.</summary>
    public async Task<Queues> QueuesAsync(CancellationToken token = default)
    {
        var names = await MembersAsync(settings.QueuesKey);
        return new Queues(await Task.WhenAll(names.Select(n => StatsAsync(n, token))));
    }

    /// <summary>One queue's figures, or null when no such queue exists.</summary>
    public async Task<QueueStats?> QueueAsync(string queue, CancellationToken token = default) =>
        await ExistsAsync(queue) ? await StatsAsync(queue, token) : null;

    /// <summary>The newest <paramref name="limit"/> events of a queue (at most <see cref="MaxHistoryLimit"/>, newest
    /// first), or null when no such queue exists.</summary>
    public async Task<QueueHistory?> HistoryAsync(string queue, int limit, CancellationToken token = default)
    {
        if (!await ExistsAsync(queue)) return null;
        var history = await queues.Ask<QueueHistory>(new GetQueueHistory(queue, Math.Clamp(limit, 0, MaxHistoryLimit)),
            AskTimeout, token);
        return history with { Queue = queue };
    }

    // A queue nobody has published to or registered for does not exist: asking for it must not create its entity.
    private Task<bool> ExistsAsync(string queue) => redis.GetDatabase().SetContainsAsync(settings.QueuesKey, queue);

    private Task<QueueStats> StatsAsync(string queue, CancellationToken token) =>
        queues.Ask<QueueStats>(new GetQueueStats(queue), AskTimeout, token);

    private async Task<IEnumerable<string>> MembersAsync(string key) =>
        (await redis.GetDatabase().SetMembersAsync(key)).Select(n => n.ToString()).Order(StringComparer.Ordinal);
}
