using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>The cluster-wide cap on queues (<c>ALLOCATOR_MAX_QUEUES</c>): one round trip to Redis decides, for every
/// node at once, whether a new queue gets a place in the set of queues.</summary>
public static class QueueAdmission
{
    private const string AdmitScript = """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        return 1
        """;

    /// <summary>Whether <paramref name="queue"/> is in the set <paramref name="queuesKey"/> or was just put there,
    /// the set holding fewer than <paramref name="maxQueues"/>.</summary>
    public static async Task<bool> AdmitAsync(IDatabase database, string queuesKey, string queue, int maxQueues) =>
        (int)await database.ScriptEvaluateAsync(AdmitScript, [(RedisKey)queuesKey], [queue, maxQueues]) == 1;

    /// <summary>Puts back a queue that has events: it is in the set already, unless Redis lost it, and then it goes
    /// back over the cap if need be, since its tasks are stored.</summary>
    public static void Relist(IDatabase database, string queuesKey, string queue) =>
        database.SetAdd(queuesKey, queue, CommandFlags.FireAndForget);
}
