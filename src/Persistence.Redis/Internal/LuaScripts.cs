namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>
/// Server-side scripts for the steps that must compare and write atomically. Each touches only keys of one
/// persistence id, which share a hash tag, so they also run on Redis Cluster.
/// </summary>
internal static class LuaScripts
{
    /// <summary>
    /// Appends the events of one persistence id. KEYS: events, highest. ARGV: first seq, last seq, then
    /// (score, member) pairs. Refuses (with a SEQCONFLICT error, which fails the write) any batch whose first
    /// sequence number is not the one after the stored highest: no duplicate or out-of-order entry can be
    /// written, not even by a stale second writer, and no gap either: after Redis lost data (a flush, a restart
    /// without its append-only file) the highest reads 0, and a writer still at 500 must fail and recover
    /// instead of writing 501 after nothing. The highest only ever grows and survives deletes.
    /// </summary>
    public static readonly RedisScript Append = new("""
        local highest = tonumber(redis.call('GET', KEYS[2]) or '0')
        if tonumber(ARGV[1]) ~= highest + 1 then
          return redis.error_reply('SEQCONFLICT sequence number ' .. ARGV[1] .. ' does not follow the stored highest ' .. highest)
        end
        local n = #ARGV
        local i = 3
        while i <= n do
          -- at most 100 pairs per ZADD keeps unpack() far below Lua's stack limit
          local j = math.min(i + 199, n)
          redis.call('ZADD', KEYS[1], unpack(ARGV, i, j))
          i = j + 1
        end
        redis.call('SET', KEYS[2], ARGV[2])
        return 1
        """);

    /// <summary>Saves (or replaces) a snapshot. KEYS: index, timestamps, data. ARGV: seq, timestamp, envelope.</summary>
    public static readonly RedisScript SaveSnapshot = new("""
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
        return 1
        """);

    /// <summary>
    /// The newest snapshot within the criteria, judged on the index and timestamps only; just the chosen payload
    /// is read. KEYS: index, timestamps, data. ARGV: max seq score, min seq score, max timestamp, min timestamp.
    /// Returns {seq, timestamp, envelope} or nil.
    /// </summary>
    public static readonly RedisScript LoadSnapshot = new("""
        local seqs = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
        for _, seq in ipairs(seqs) do
          local ts = redis.call('HGET', KEYS[2], seq)
          if ts and ts <= ARGV[3] and ts >= ARGV[4] then
            return {seq, ts, redis.call('HGET', KEYS[3], seq)}
          end
        end
        return nil
        """);

    /// <summary>
    /// Deletes one snapshot if its stored timestamp is not newer than the given one (empty: any timestamp).
    /// KEYS: index, timestamps, data. ARGV: seq, max timestamp or ''. Returns 1 if deleted.
    /// </summary>
    public static readonly RedisScript DeleteSnapshot = new("""
        local ts = redis.call('HGET', KEYS[2], ARGV[1])
        if not ts then
          if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('HDEL', KEYS[3], ARGV[1]) return 1 end
          return 0
        end
        if ARGV[2] ~= '' and ts > ARGV[2] then return 0 end
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('HDEL', KEYS[3], ARGV[1])
        return 1
        """);

    /// <summary>
    /// Deletes every snapshot within all four bounds, in one atomic step. KEYS: index, timestamps, data.
    /// ARGV: max seq score, min seq score, max timestamp, min timestamp. Returns how many were deleted.
    /// </summary>
    public static readonly RedisScript DeleteSnapshots = new("""
        local seqs = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[1])
        local deleted = 0
        for _, seq in ipairs(seqs) do
          local ts = redis.call('HGET', KEYS[2], seq)
          -- an index entry without a timestamp is an orphan; it matches any time bound
          if (not ts) or (ts <= ARGV[3] and ts >= ARGV[4]) then
            redis.call('ZREM', KEYS[1], seq)
            redis.call('HDEL', KEYS[2], seq)
            redis.call('HDEL', KEYS[3], seq)
            deleted = deleted + 1
          end
        end
        return deleted
        """);
}
