using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>
/// A Lua script. StackExchange.Redis sends it by SHA1 (EVALSHA) once the server knows it and re-sends the text
/// itself, on the same connection and in order, when a restarted server answers NOSCRIPT. Doing that retry here
/// instead could reorder two appends of one persistence id, so it is left to the library.
/// </summary>
internal sealed class RedisScript
{
    public RedisScript(string text) => Text = text;

    public string Text { get; }

    /// <summary>
    /// Runs the script. The command is queued before this method returns, so scripts issued one after the other
    /// from an actor reach Redis in that order.
    /// </summary>
    public Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args, CommandFlags flags) =>
        db.ScriptEvaluateAsync(Text, keys, args, flags);
}
