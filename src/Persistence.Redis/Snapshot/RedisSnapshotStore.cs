using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using CeleryActors.Persistence.Redis.Internal;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Snapshot;

/// <summary>
/// Akka.Persistence snapshot store on Redis. Per persistence id: a sorted set of sequence numbers, a hash of
/// their timestamps (UTC ticks) and a hash of payload envelopes. Selection by criteria runs in one Lua script on
/// the index and timestamps only and reads just the chosen payload; saving at an existing sequence number
/// replaces it; deletes (one or by criteria, honouring all four bounds) are atomic scripts.
/// </summary>
public class RedisSnapshotStore : SnapshotStore, IWithUnboundedStash
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RedisKeys _keys;
    private readonly PayloadSerializer _serializer;
    private readonly PluginConnector _connector;

    /// <summary>Created by Akka.Persistence with the plugin's config section.</summary>
    public RedisSnapshotStore(Config config)
    {
        _ = RedisPersistence.Get(Context.System);
        Settings = new RedisSnapshotSettings(
            config.WithFallback(RedisPersistence.DefaultConfig().GetConfig(RedisPersistence.SnapshotStoreConfigPath)));
        _keys = new RedisKeys(Settings.KeyPrefix);
        _serializer = new PayloadSerializer(Context.System, Settings.Serializer);
        _connector = new PluginConnector("Redis snapshot store", "akka-persistence-snapshots", Settings, _log);
    }

    /// <summary>The settings this store runs with.</summary>
    public RedisSnapshotSettings Settings { get; }

    /// <inheritdoc />
    public IStash Stash { get; set; } = null!;

    /// <summary>The multiplexer in use, once connected.</summary>
    protected IConnectionMultiplexer? Multiplexer => _connector.Connection?.Multiplexer;

    private IDatabase Db => _connector.Connection?.Database
                            ?? throw new InvalidOperationException("The Redis snapshot store is not connected yet");

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

    private RedisKey[] Keys(string persistenceId) =>
    [
        _keys.SnapshotIndex(persistenceId), _keys.SnapshotTimestamps(persistenceId), _keys.SnapshotData(persistenceId),
    ];

    /// <inheritdoc />
    protected override async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria,
        CancellationToken cancellationToken = default)
    {
        var result = await LuaScripts.LoadSnapshot.EvaluateAsync(Db, Keys(persistenceId), Bounds(criteria),
            CommandFlags.DemandMaster).ConfigureAwait(false);
        if (result.IsNull) return null;
        var parts = (RedisResult[])result!;
        var seq = long.Parse((string)parts[0]!, NumberStyles.None, CultureInfo.InvariantCulture);
        var timestamp = SnapshotTimestamp.Decode((string)parts[1]!);
        var payload = _serializer.Deserialize(SnapshotEnvelope.Decode((byte[])parts[2]!));
        return new SelectedSnapshot(new SnapshotMetadata(persistenceId, seq, timestamp), payload);
    }

    /// <inheritdoc />
    protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot,
        CancellationToken cancellationToken = default)
    {
        var envelope = SnapshotEnvelope.Encode(_serializer.Serialize(snapshot));
        RedisValue[] args = [Member(metadata.SequenceNr), SnapshotTimestamp.Encode(metadata.Timestamp), envelope];
        await LuaScripts.SaveSnapshot.EvaluateAsync(Db, Keys(metadata.PersistenceId), args, CommandFlags.DemandMaster)
            .ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken = default)
    {
        // DateTime.MinValue means "whatever its timestamp": delete by sequence number alone.
        var maxTimestamp = metadata.Timestamp == DateTime.MinValue ? string.Empty : SnapshotTimestamp.Encode(metadata.Timestamp);
        await LuaScripts.DeleteSnapshot.EvaluateAsync(Db, Keys(metadata.PersistenceId),
            [Member(metadata.SequenceNr), maxTimestamp], CommandFlags.DemandMaster).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria,
        CancellationToken cancellationToken = default)
    {
        var deleted = await LuaScripts.DeleteSnapshots.EvaluateAsync(Db, Keys(persistenceId), Bounds(criteria),
            CommandFlags.DemandMaster).ConfigureAwait(false);
        _log.Debug("Deleted {0} snapshots of {1} matching {2}", (long)deleted, persistenceId, criteria);
    }

    /// <summary>Healthy when the circuit breaker is closed and Redis answers PING.</summary>
    public override async Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        var breaker = await base.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        if (breaker.Status != PersistenceHealthStatus.Healthy) return breaker;
        return await RedisHealth.PingAsync(_connector.Connection, "snapshot store").ConfigureAwait(false);
    }

    private static RedisValue Member(long sequenceNr) => sequenceNr.ToString(CultureInfo.InvariantCulture);

    private static RedisValue[] Bounds(SnapshotSelectionCriteria c) =>
    [
        RedisConnector.ScoreText(c.MaxSequenceNr),
        RedisConnector.ScoreText(c.MinSequenceNr),
        SnapshotTimestamp.Encode(c.MaxTimeStamp),
        SnapshotTimestamp.Encode(c.MinTimestamp ?? DateTime.MinValue),
    ];
}
