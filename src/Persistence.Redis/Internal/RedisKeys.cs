using System.Text;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>
/// Key layout. Every key of one persistence id carries the same hash tag, <c>{escaped pid}</c>, so all of them
/// live on one Redis Cluster slot and a Lua script may touch them together.
/// </summary>
internal sealed class RedisKeys
{
    private readonly string _prefix;

    public RedisKeys(string prefix) => _prefix = prefix;

    /// <summary>Sorted set of event envelopes, scored by sequence number.</summary>
    public RedisKey Events(string persistenceId) => Key("j", persistenceId, "events");

    /// <summary>String holding the highest sequence number ever written; it survives deletes.</summary>
    public RedisKey Highest(string persistenceId) => Key("j", persistenceId, "highest");

    /// <summary>Sorted set of snapshot sequence numbers (score and member are the sequence number).</summary>
    public RedisKey SnapshotIndex(string persistenceId) => Key("s", persistenceId, "index");

    /// <summary>Hash: sequence number to timestamp (UTC ticks, 19 zero-padded digits so Lua compares them as text).</summary>
    public RedisKey SnapshotTimestamps(string persistenceId) => Key("s", persistenceId, "ts");

    /// <summary>Hash: sequence number to snapshot envelope.</summary>
    public RedisKey SnapshotData(string persistenceId) => Key("s", persistenceId, "data");

    /// <summary>
    /// The hash tag of a persistence id: the id with '%', '{' and '}' percent-escaped. The escape is one-to-one,
    /// so two ids never share keys, and the tag holds no brace that would end it early.
    /// </summary>
    public static string HashTag(string persistenceId)
    {
        if (persistenceId.AsSpan().IndexOfAny('%', '{', '}') < 0) return persistenceId;
        var sb = new StringBuilder(persistenceId.Length + 8);
        foreach (var c in persistenceId)
            sb.Append(c switch { '%' => "%25", '{' => "%7B", '}' => "%7D", _ => c.ToString() });
        return sb.ToString();
    }

    private RedisKey Key(string kind, string persistenceId, string suffix) =>
        $"{_prefix}{kind}:{{{HashTag(persistenceId)}}}:{suffix}";
}
