using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The Redis side of the durable intake for one node: finding the task streams, joining their consumer group,
/// reading, claiming what other consumers left idle, and acknowledging in batches. Acknowledged entries are
/// deleted as well (nothing else needs them, and the streams stay small); a lost XACK leaves the entry pending, and
/// it is claimed and submitted again, which its queue answers as a duplicate. Not thread-safe: its acknowledgement
/// buffer belongs to the intake actor.
/// </summary>
/// <param name="database">The node's Redis.</param>
/// <param name="settings">Channel names and stream timings.</param>
/// <param name="consumer">This node's consumer name in the group.</param>
public sealed class TaskStreams(IDatabase database, AllocatorSettings settings, string consumer)
{
    /// <summary>Entries taken by one read or one page of a claim.</summary>
    public const int ReadCount = 500;

    private const int AckBatch = 500;
    private readonly Dictionary<string, List<RedisValue>> _acks = new(StringComparer.Ordinal);

    /// <summary>The task streams and their lengths (entries not acknowledged yet, since acknowledged ones are
    /// deleted).</summary>
    public async Task<(string[] Streams, long[] Lengths)> FindAsync()
    {
        var found = new List<string>();
        long cursor = 0;
        do
        {
            // SCAN with TYPE (Redis 6): only streams; the pub/sub channels of the same name are not keys.
            var reply = (RedisResult[])(await database.ExecuteAsync("SCAN", cursor, "MATCH", settings.Channels.TasksPattern,
                "COUNT", 1_000, "TYPE", "stream"))!;
            cursor = (long)reply[0];
            found.AddRange(((RedisResult[])reply[1]!).Select(k => (string)k!));
        } while (cursor != 0);
        var lengths = await Task.WhenAll(found.Select(s => database.StreamLengthAsync(s)));
        return (found.ToArray(), lengths);
    }

    /// <summary>Makes sure the group reads <paramref name="stream"/> (from its first entry, when the group is new).</summary>
    public async Task JoinAsync(string stream)
    {
        try
        {
            await database.StreamCreateConsumerGroupAsync(stream, AllocatorSettings.StreamGroup, "0-0", createStream: false);
        }
        catch (RedisServerException e) when (e.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
            // The group exists: another node, or an earlier incarnation, made it.
        }
    }

    /// <summary>Reads new entries of <paramref name="streams"/> for this consumer.</summary>
    public Task<RedisStream[]> ReadAsync(IEnumerable<string> streams) =>
        database.StreamReadGroupAsync(streams.Select(s => new StreamPosition(s, StreamPosition.NewMessages)).ToArray(),
            AllocatorSettings.StreamGroup, consumer, ReadCount);

    /// <summary>Claims entries of <paramref name="stream"/> pending longer than the claim idle time, a page at a time,
    /// until the pending list is walked or enough is taken for this round.</summary>
    public async Task<StreamEntry[]> ClaimIdleAsync(string stream)
    {
        var claimed = new List<StreamEntry>();
        RedisValue start = "0-0";
        for (var page = 0; page < 20; page++)
        {
            var result = await database.StreamAutoClaimAsync(stream, AllocatorSettings.StreamGroup, consumer,
                (long)settings.StreamClaimIdle.TotalMilliseconds, start, ReadCount);
            claimed.AddRange(result.ClaimedEntries.Where(e => !e.IsNull));
            start = result.NextStartId;
            if (start == "0-0") break;
        }
        return claimed.ToArray();
    }

    /// <summary>Buffers the acknowledgement of an entry; true when the batch is full and was sent.</summary>
    public bool Acknowledge(string stream, string id)
    {
        if (!_acks.TryGetValue(stream, out var ids)) _acks[stream] = ids = [];
        ids.Add(id);
        if (ids.Count < AckBatch) return false;
        Flush();
        return true;
    }

    /// <summary>Sends every buffered acknowledgement (XACK, then XDEL).</summary>
    public void Flush()
    {
        foreach (var (stream, ids) in _acks)
        {
            if (ids.Count == 0) continue;
            var batch = ids.ToArray();
            ids.Clear();
            database.StreamAcknowledgeAsync(stream, AllocatorSettings.StreamGroup, batch, CommandFlags.FireAndForget);
            database.StreamDeleteAsync(stream, batch, CommandFlags.FireAndForget);
        }
    }
}
