using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Fsm;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Conformance;

/// <summary>Snapshot cases 17-21 of journal-contract.md §1.5 (the TCK's SnapshotStoreSerializationSpec).</summary>
public sealed class SnapshotSerializationSpec(RedisFixture redis, ITestOutputHelper output) : PluginSpec(redis, output)
{
    private object RoundTrip(object snapshot)
    {
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 1, DateTime.UtcNow), snapshot), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>();
        SnapshotStore.Tell(new LoadSnapshot(Pid, SnapshotSelectionCriteria.Latest, long.MaxValue), probe.Ref);
        var loaded = probe.ExpectMsg<LoadSnapshotResult>().Snapshot;
        Assert.NotNull(loaded);
        Assert.Equal(1, loaded.Metadata.SequenceNr);
        return loaded.Snapshot;
    }

    [Fact] // 17
    public void Round_trips_a_snapshot_of_a_serializer_that_includes_the_type_manifest() =>
        Assert.Equal(new ManifestPayload(".a."), RoundTrip(new ManifestPayload("a")));

    [Fact] // 18
    public void Round_trips_a_snapshot_of_a_serializer_with_string_manifest() =>
        Assert.Equal(new StringManifestPayload(".b."), RoundTrip(new StringManifestPayload("b")));

    [Fact] // 19
    public void Round_trips_an_at_least_once_delivery_snapshot()
    {
        var destination = ActorPath.Parse("akka://test/user/destination");
        var original = new AtLeastOnceDeliverySnapshot(17,
            [new UnconfirmedDelivery(1, destination, "one"), new UnconfirmedDelivery(2, destination, "two")]);
        var loaded = Assert.IsType<AtLeastOnceDeliverySnapshot>(RoundTrip(original));
        Assert.Equal(17, loaded.CurrentDeliveryId);
        Assert.Equal(2, loaded.UnconfirmedDeliveries.Length);
        Assert.Equal(2, loaded.UnconfirmedDeliveries[1].DeliveryId);
        Assert.Equal(destination, loaded.UnconfirmedDeliveries[1].Destination);
        Assert.Equal("two", loaded.UnconfirmedDeliveries[1].Message);
    }

    [Fact] // 20
    public void Round_trips_an_at_least_once_delivery_snapshot_with_nothing_unconfirmed()
    {
        var loaded = Assert.IsType<AtLeastOnceDeliverySnapshot>(RoundTrip(new AtLeastOnceDeliverySnapshot(9, [])));
        Assert.Equal(9, loaded.CurrentDeliveryId);
        Assert.Empty(loaded.UnconfirmedDeliveries);
    }

    [Fact] // 21
    public void Round_trips_a_persistent_fsm_snapshot()
    {
        var original = new PersistentFSM.PersistentFSMSnapshot<string>("idle", "the-data", TimeSpan.FromSeconds(4));
        var loaded = Assert.IsType<PersistentFSM.PersistentFSMSnapshot<string>>(RoundTrip(original));
        Assert.Equal("idle", loaded.StateIdentifier);
        Assert.Equal("the-data", loaded.Data);
        Assert.Equal(TimeSpan.FromSeconds(4), loaded.Timeout);
    }
}
