using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Journal;
using CeleryActors.Persistence.Redis.Internal;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Journal;

/// <summary>
/// Akka.Persistence journal on Redis. Per persistence id it keeps a sorted set of event envelopes scored by
/// sequence number and a counter of the highest sequence number ever written (see docs/persistence.md).
/// <list type="bullet">
/// <item>Each persistence id's part of a batch is written by one Lua script: all of it or nothing, and only above
/// the stored highest sequence number, so no duplicate can appear.</item>
/// <item>A payload that cannot be serialized rejects its own AtomicWrite only; a Redis error fails the whole
/// write (WriteMessageFailure, which the circuit breaker counts), never a rejection.</item>
/// <item>Replay pages through the range and honours max across pages.</item>
/// </list>
/// </summary>
public class RedisJournal : AsyncWriteJournal, IWithUnboundedStash
{
    private static readonly Task<IImmutableList<Exception>?> AllWritten = Task.FromResult<IImmutableList<Exception>?>(null);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RedisKeys _keys;
    private readonly PayloadSerializer _serializer;
    private readonly PluginConnector _connector;

    /// <summary>Created by Akka.Persistence with the plugin's config section.</summary>
    public RedisJournal(Config config)
    {
        RedisPersistence.Get(Context.System); // loads the extension, which injects the plugin's defaults
        Settings = new RedisJournalSettings(
            config.WithFallback(RedisPersistence.DefaultConfig().GetConfig(RedisPersistence.JournalConfigPath)));
        _keys = new RedisKeys(Settings.KeyPrefix);
        _serializer = new PayloadSerializer(Context.System, Settings.Serializer);
        _connector = new PluginConnector("Redis journal", "akka-persistence-journal", Settings, _log);
    }

    /// <summary>The settings this journal runs with.</summary>
    public RedisJournalSettings Settings { get; }

    /// <inheritdoc />
    public IStash Stash { get; set; } = null!;

    /// <summary>The multiplexer in use, once connected (for tests and health checks).</summary>
    protected IConnectionMultiplexer? Multiplexer => _connector.Connection?.Multiplexer;

    private IDatabase Db => _connector.Connection?.Database
                            ?? throw new InvalidOperationException("The Redis journal is not connected yet");

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        // Protocol messages wait in the stash until the connection is open.
        if (!_connector.Start(Context.System, Self))
            BecomeStacked(message => _connector.Waiting(message, Stash, UnbecomeStacked));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _connector.Release();
        base.PostStop();
    }

    /// <inheritdoc />
    protected override Task<IImmutableList<Exception>?> WriteMessagesAsync(
        IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken = default)
    {
        var writes = messages as IReadOnlyList<AtomicWrite> ?? messages.ToList();
        if (writes.Count == 0) return AllWritten;

        var rejections = new Exception?[writes.Count];
        var batches = SerializeAll(writes, rejections);
        var db = Db;
        // All scripts are queued before the first await, so they reach Redis in the order the journal got them.
        var pending = new Task[batches.Count];
        for (var i = 0; i < batches.Count; i++) pending[i] = batches[i].AppendAsync(db, _keys);
        return Complete(pending, rejections);
    }

    private static async Task<IImmutableList<Exception>?> Complete(Task[] pending, Exception?[] rejections)
    {
        // Any Redis error faults the whole task: the base class then answers WriteMessageFailure for every
        // AtomicWrite of the batch and the circuit breaker counts it.
        await Task.WhenAll(pending).ConfigureAwait(false);
        // A null entry means that AtomicWrite was stored; the base class maps the others to WriteMessageRejected.
        return Array.TrueForAll(rejections, r => r is null) ? null : (IImmutableList<Exception>)ImmutableList.CreateRange<Exception?>(rejections)!;
    }

    /// <summary>Serializes every AtomicWrite, grouping the good ones per persistence id in arrival order.</summary>
    private List<PidBatch> SerializeAll(IReadOnlyList<AtomicWrite> writes, Exception?[] rejections)
    {
        var batches = new List<PidBatch>(1);
        for (var i = 0; i < writes.Count; i++)
        {
            var write = writes[i];
            List<(long Seq, byte[] Bytes)> encoded;
            try
            {
                encoded = Encode(write);
            }
            catch (Exception e)
            {
                _log.Warning("Rejecting events {0}-{1} of {2}: they cannot be serialized ({3})",
                    write.LowestSequenceNr, write.HighestSequenceNr, write.PersistenceId, e.Message);
                rejections[i] = e;
                continue;
            }
            var batch = BatchOf(batches, write.PersistenceId);
            if (batch is null) batches.Add(batch = new PidBatch(write.PersistenceId));
            batch.Events.AddRange(encoded);
        }
        return batches;
    }

    // A loop, not List.Find: a lambda capturing the id was an allocation per write.
    private static PidBatch? BatchOf(List<PidBatch> batches, string persistenceId)
    {
        foreach (var batch in batches)
            if (batch.PersistenceId == persistenceId) return batch;
        return null;
    }

    private List<(long, byte[])> Encode(AtomicWrite write)
    {
        var events = (IImmutableList<IPersistentRepresentation>)write.Payload;
        var encoded = new List<(long, byte[])>(events.Count);
        foreach (var persistent in events)
        {
            var (payload, tags) = persistent.Payload is Tagged tagged
                ? (tagged.Payload, tagged.Tags)
                : (persistent.Payload, (IImmutableSet<string>)ImmutableHashSet<string>.Empty);
            var timestamp = persistent.Timestamp != 0 ? persistent.Timestamp : DateTime.UtcNow.Ticks;
            var stored = new StoredEvent(persistent.SequenceNr, persistent.WriterGuid ?? string.Empty,
                persistent.Manifest ?? string.Empty, timestamp, tags, _serializer.Serialize(payload));
            encoded.Add((persistent.SequenceNr, EventEnvelope.Encode(stored)));
        }
        return encoded;
    }

    /// <inheritdoc />
    public override async Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr,
        long toSequenceNr, long max, Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0 || toSequenceNr < fromSequenceNr) return;
        var key = _keys.Events(persistenceId);
        var db = Db;
        var pageSize = Settings.ReplayBatchSize;
        var delivered = 0L;
        var next = FetchPage(db, key, fromSequenceNr, toSequenceNr, PageSize(pageSize, max));
        while (true)
        {
            var page = await next.ConfigureAwait(false);
            if (page.Length == 0) return;
            var lastSeq = (long)page[^1].Score;
            var remaining = max - delivered - page.Length;
            var more = page.Length == PageSize(pageSize, max - delivered) && remaining > 0 && lastSeq < toSequenceNr;
            // Ask for the next page before decoding this one, so Redis works while we deliver.
            if (more) next = FetchPage(db, key, lastSeq + 1, toSequenceNr, PageSize(pageSize, remaining));
            foreach (var entry in page)
            {
                if (delivered == max) return;
                recoveryCallback(ToPersistent(persistenceId, (byte[])entry.Element!));
                delivered++;
            }
            if (!more) return;
        }
    }

    private static int PageSize(int pageSize, long remaining) => (int)Math.Min(pageSize, remaining);

    private static Task<SortedSetEntry[]> FetchPage(IDatabase db, RedisKey key, long from, long to, int count) =>
        db.SortedSetRangeByScoreWithScoresAsync(key, from, RedisConnector.Score(to), Exclude.None, Order.Ascending,
            skip: 0, take: count, CommandFlags.DemandMaster);

    private Persistent ToPersistent(string persistenceId, byte[] bytes)
    {
        var stored = EventEnvelope.Decode(bytes);
        var payload = _serializer.Deserialize(stored.Payload);
        return new Persistent(payload, stored.SequenceNr, persistenceId, stored.EventManifest, isDeleted: false,
            ActorRefs.NoSender, stored.WriterGuid, stored.Timestamp);
    }

    /// <inheritdoc />
    public override async Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr,
        CancellationToken cancellationToken = default)
    {
        // Read from the primary: a replica may lag behind a write this actor already saw acknowledged.
        var value = await Db.StringGetAsync(_keys.Highest(persistenceId), CommandFlags.DemandMaster).ConfigureAwait(false);
        return value.IsNull ? 0L : (long)value;
    }

    /// <inheritdoc />
    protected override async Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr,
        CancellationToken cancellationToken = default)
    {
        // The highest-sequence counter is a separate key and is left alone, so it survives deleting everything.
        var removed = await Db.SortedSetRemoveRangeByScoreAsync(_keys.Events(persistenceId), double.NegativeInfinity,
            RedisConnector.Score(toSequenceNr), Exclude.None, CommandFlags.DemandMaster).ConfigureAwait(false);
        _log.Debug("Deleted {0} events of {1} up to {2}", removed, persistenceId, toSequenceNr);
    }

    /// <summary>Healthy when the circuit breaker is closed and Redis answers PING.</summary>
    public override async Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        var breaker = await base.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        if (breaker.Status != PersistenceHealthStatus.Healthy) return breaker;
        return await RedisHealth.PingAsync(_connector.Connection, "journal").ConfigureAwait(false);
    }

    /// <summary>The events of one persistence id in one batch: one Lua call, all or nothing.</summary>
    private sealed class PidBatch(string persistenceId)
    {
        public string PersistenceId { get; } = persistenceId;

        public List<(long Seq, byte[] Bytes)> Events { get; } = new();

        public Task<RedisResult> AppendAsync(IDatabase db, RedisKeys keys)
        {
            var args = new RedisValue[2 + Events.Count * 2];
            args[0] = Events[0].Seq;
            args[1] = Events[^1].Seq;
            for (var i = 0; i < Events.Count; i++)
            {
                args[2 + i * 2] = Events[i].Seq;
                args[3 + i * 2] = Events[i].Bytes;
            }
            return LuaScripts.Append.EvaluateAsync(db, [keys.Events(PersistenceId), keys.Highest(PersistenceId)],
                args, CommandFlags.DemandMaster);
        }
    }
}
