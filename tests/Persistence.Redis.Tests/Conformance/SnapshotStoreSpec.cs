using Akka.Persistence;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Conformance;

/// <summary>
/// Snapshot-store cases 1-15 of journal-contract.md §1.3-1.4 (the TCK's SnapshotStoreSpec and
/// SnapshotStoreSaveSnapshotSpec). Case 16 (concurrent saves) is opt-in in the TCK and not claimed here.
/// </summary>
public sealed class SnapshotStoreSpec : PluginSpec
{
    private readonly List<SnapshotMetadata> _metadata = [];

    public SnapshotStoreSpec(RedisFixture redis, ITestOutputHelper output) : base(redis, output)
    {
        // Five snapshots at 11..15, s-1..s-5, a millisecond apart so the timestamp bounds can tell them apart.
        var probe = CreateTestProbe();
        var start = DateTime.UtcNow.AddSeconds(-10);
        for (var i = 1; i <= 5; i++)
        {
            var metadata = new SnapshotMetadata(Pid, 10 + i, start.AddMilliseconds(i));
            SnapshotStore.Tell(new SaveSnapshot(metadata, $"s-{i}"), probe.Ref);
            _metadata.Add(probe.ExpectMsg<SaveSnapshotSuccess>().Metadata);
        }
    }

    private SelectedSnapshot? Load(SnapshotSelectionCriteria criteria, long toSequenceNr = long.MaxValue,
        string? pid = null)
    {
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new LoadSnapshot(pid ?? Pid, criteria, toSequenceNr), probe.Ref);
        var result = probe.ExpectMsg<LoadSnapshotResult>();
        Assert.Equal(toSequenceNr, result.ToSequenceNr);
        return result.Snapshot;
    }

    private void ExpectSnapshot(SelectedSnapshot? snapshot, int index, string payload)
    {
        Assert.NotNull(snapshot);
        Assert.Equal(_metadata[index], snapshot.Metadata); // the whole metadata, timestamp included
        Assert.Equal(payload, snapshot.Snapshot);
    }

    private static SnapshotSelectionCriteria Criteria(long maxSeq, DateTime? maxTs = null) =>
        new(maxSeq, maxTs ?? DateTime.MaxValue);

    [Fact] // 1
    public void Loads_nothing_for_an_unknown_persistence_id() =>
        Assert.Null(Load(SnapshotSelectionCriteria.Latest, pid: "unknown-" + Guid.NewGuid()));

    [Fact] // 2
    public void Loads_nothing_when_the_timestamp_bound_matches_nothing() =>
        Assert.Null(Load(Criteria(long.MaxValue, new DateTime(100000))));

    [Fact] // 3
    public void Loads_nothing_when_the_sequence_bound_matches_nothing()
    {
        Assert.Null(Load(Criteria(7)));
        Assert.Null(Load(SnapshotSelectionCriteria.Latest, toSequenceNr: 7));
    }

    [Fact] // 4
    public void Loads_the_most_recent_snapshot() =>
        ExpectSnapshot(Load(SnapshotSelectionCriteria.Latest), 4, "s-5");

    [Fact] // 5
    public void Loads_the_most_recent_snapshot_under_a_sequence_bound()
    {
        ExpectSnapshot(Load(Criteria(13)), 2, "s-3");
        ExpectSnapshot(Load(SnapshotSelectionCriteria.Latest, toSequenceNr: 13), 2, "s-3");
    }

    [Fact] // 6
    public void Loads_the_most_recent_snapshot_under_sequence_and_timestamp_bounds()
    {
        ExpectSnapshot(Load(Criteria(13, _metadata[2].Timestamp)), 2, "s-3");
        ExpectSnapshot(Load(Criteria(long.MaxValue, _metadata[2].Timestamp), toSequenceNr: 13), 2, "s-3");
        // and a timestamp bound alone picks the older one
        ExpectSnapshot(Load(Criteria(long.MaxValue, _metadata[1].Timestamp)), 1, "s-2");
    }

    [Fact] // 7
    public void Deletes_one_snapshot_identified_by_its_metadata()
    {
        var subscriber = CreateTestProbe();
        Sys.EventStream.Subscribe(subscriber, typeof(DeleteSnapshot));
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new DeleteSnapshot(_metadata[2]), probe.Ref);
        subscriber.ExpectMsg<DeleteSnapshot>(m => Assert.Equal(_metadata[2], m.Metadata));
        probe.ExpectMsg<DeleteSnapshotSuccess>(m => Assert.Equal(_metadata[2], m.Metadata));
        ExpectSnapshot(Load(Criteria(13)), 1, "s-2");
    }

    [Fact] // 8
    public void Deletes_one_snapshot_by_sequence_number_when_the_timestamp_is_min_value()
    {
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new DeleteSnapshot(new SnapshotMetadata(Pid, 13, DateTime.MinValue)), probe.Ref);
        probe.ExpectMsg<DeleteSnapshotSuccess>();
        ExpectSnapshot(Load(Criteria(13)), 1, "s-2");
    }

    [Fact] // 9
    public void Does_not_delete_a_snapshot_newer_than_the_given_timestamp()
    {
        var probe = CreateTestProbe();
        var older = new SnapshotMetadata(Pid, 13, _metadata[2].Timestamp.AddSeconds(-2));
        SnapshotStore.Tell(new DeleteSnapshot(older), probe.Ref);
        probe.ExpectMsg<DeleteSnapshotSuccess>();
        ExpectSnapshot(Load(Criteria(13)), 2, "s-3");
    }

    [Fact] // 10
    public void Deletes_all_snapshots_within_sequence_and_timestamp_bounds()
    {
        var subscriber = CreateTestProbe();
        Sys.EventStream.Subscribe(subscriber, typeof(DeleteSnapshots));
        var criteria = Criteria(13, _metadata[2].Timestamp);
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new DeleteSnapshots(Pid, criteria), probe.Ref);
        subscriber.ExpectMsg<DeleteSnapshots>(m => Assert.Equal(criteria, m.Criteria));
        probe.ExpectMsg<DeleteSnapshotsSuccess>(m => Assert.Equal(criteria, m.Criteria));
        Assert.Null(Load(criteria));
        ExpectSnapshot(Load(Criteria(14)), 3, "s-4");
    }

    [Fact] // 11
    public void Does_not_delete_snapshots_outside_the_timestamp_bound()
    {
        var criteria = Criteria(14, _metadata[3].Timestamp.AddTicks(-1));
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new DeleteSnapshots(Pid, criteria), probe.Ref);
        probe.ExpectMsg<DeleteSnapshotsSuccess>(m => Assert.Equal(criteria, m.Criteria));
        ExpectSnapshot(Load(Criteria(14)), 3, "s-4");
        Assert.Null(Load(Criteria(13))); // the ones inside both bounds did go
    }

    [Fact] // 12
    public void Saving_again_at_the_same_sequence_number_replaces_the_snapshot()
    {
        var probe = CreateTestProbe();
        var metadata = new SnapshotMetadata(Pid, 15, DateTime.UtcNow);
        SnapshotStore.Tell(new SaveSnapshot(metadata, "s-5-modified"), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>();
        var loaded = Load(SnapshotSelectionCriteria.Latest);
        Assert.NotNull(loaded);
        Assert.Equal(15, loaded.Metadata.SequenceNr);
        Assert.Equal("s-5-modified", loaded.Snapshot);
        Assert.Equal(metadata.Timestamp, loaded.Metadata.Timestamp);
    }

    [Fact] // 13
    public void Saves_and_loads_a_large_snapshot()
    {
        var bytes = new byte[10_000];
        new Random(42).NextBytes(bytes);
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 100, DateTime.UtcNow), bytes), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>();
        Assert.Equal(bytes, (byte[])Load(SnapshotSelectionCriteria.Latest)!.Snapshot);
    }

    [Fact] // 14
    public void Serializes_snapshots()
    {
        var probe = CreateTestProbe();
        var payload = new TestPayload(probe.Ref);
        var metadata = new SnapshotMetadata(Pid, 100, DateTime.UtcNow);
        SnapshotStore.Tell(new SaveSnapshot(metadata, payload), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>();
        var loaded = Load(SnapshotSelectionCriteria.Latest);
        Assert.NotNull(loaded);
        Assert.Equal(Pid, loaded.Metadata.PersistenceId);
        Assert.Equal(100, loaded.Metadata.SequenceNr);
        Assert.Equal(payload, loaded.Snapshot);
    }

    [Fact] // 15
    public void Saves_twice_at_the_same_sequence_number_and_echoes_the_requested_metadata()
    {
        var probe = CreateTestProbe();
        var first = new SnapshotMetadata(Pid, 50, DateTime.UtcNow.AddSeconds(-1));
        var second = new SnapshotMetadata(Pid, 50, DateTime.UtcNow);
        SnapshotStore.Tell(new SaveSnapshot(first, "first"), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>(m => Assert.Equal(first, m.Metadata));
        SnapshotStore.Tell(new SaveSnapshot(second, "second"), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>(m =>
        {
            Assert.Equal(Pid, m.Metadata.PersistenceId);
            Assert.Equal(50, m.Metadata.SequenceNr);
            Assert.Equal(second.Timestamp, m.Metadata.Timestamp);
        });
        var loaded = Load(Criteria(50));
        Assert.Equal("second", loaded!.Snapshot);
    }
}
