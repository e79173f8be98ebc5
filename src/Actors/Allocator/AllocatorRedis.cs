using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>The allocator entities' Redis (<see cref="IAllocatorRedis"/>) on the node's shared connection: the
/// workers' channels and the sets of queues and workers named by <see cref="AllocatorSettings"/>.</summary>
/// <param name="redis">The node's connection.</param>
/// <param name="settings">Channel names and keys.</param>
public sealed class AllocatorRedis(IConnectionMultiplexer redis, AllocatorSettings settings) : IAllocatorRedis
{
    // One round trip decides, for every node at once, whether a new queue gets a place in the set of queues.
    private const string AdmitScript = """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        return 1
        """;

    private readonly IDatabase _database = redis.GetDatabase();
    private readonly ISubscriber _publisher = redis.GetSubscriber();

    /// <inheritdoc />
    public void PublishAssignment(string worker, byte[] assignment) =>
        _publisher.Publish(RedisChannel.Literal(settings.Channels.Worker(worker)), assignment, CommandFlags.FireAndForget);

    /// <inheritdoc />
    public async Task<bool> AdmitQueueAsync(string queue, int maxQueues) =>
        (int)await _database.ScriptEvaluateAsync(AdmitScript, [(RedisKey)settings.QueuesKey], [queue, maxQueues]) == 1;

    /// <inheritdoc />
    public void ListQueue(string queue) => _database.SetAdd(settings.QueuesKey, queue, CommandFlags.FireAndForget);

    /// <inheritdoc />
    public void ListWorker(string worker) => _database.SetAdd(settings.WorkersKey, worker, CommandFlags.FireAndForget);
}
