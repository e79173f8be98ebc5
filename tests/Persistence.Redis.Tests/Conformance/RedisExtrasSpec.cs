using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Persistence;
using CeleryActors.Persistence.Redis.Internal;
using CeleryActors.Persistence.Redis.Journal;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Conformance;

/// <summary>The extra cases of journal-contract.md §1.7, for what the TCK does not cover and Redis needs.</summary>
public sealed class RedisExtrasSpec(RedisFixture redis, ITestOutputHelper output) : PluginSpec(redis, output, $$"""
    akka.persistence.journal.exposed {
      class = "{{typeof(ExposedJournal).FullName}}, CeleryActors.Persistence.Redis.Tests"
      configuration-string = "{{redis.ConnectionString}}"
    }
    """)
{
    private void WriteBatch(string pid, long from, long to)
    {
        var probe = CreateTestProbe();
        var writes = Range(from, to).Select(n => Atomic(Event($"a-{n}", n, pid))).ToArray();
        Write(probe, writes);
        probe.ExpectMsg<WriteMessagesSuccessful>();
        for (var n = from; n <= to; n++) probe.ExpectMsg<WriteMessageSuccess>();
    }

    [Fact]
    public void An_empty_write_batch_succeeds_at_once()
    {
        var probe = CreateTestProbe();
        Write(probe);
        probe.ExpectMsg<WriteMessagesSuccessful>(TimeSpan.FromSeconds(3));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_replay_larger_than_one_page_stays_ordered_and_honours_max_across_pages()
    {
        // replay-batch-size is 7 in the test config, so 50 events take 8 pages.
        WriteBatch(Pid, 1, 50);
        var probe = CreateTestProbe();
        Replay(probe, 1, long.MaxValue);
        ExpectReplay(probe, Range(1, 50), 50);
        Replay(probe, 1, long.MaxValue, max: 20);
        ExpectReplay(probe, Range(1, 20), 50);
        Replay(probe, 10, 40, max: 15);
        ExpectReplay(probe, Range(10, 24), 50);
        Replay(probe, 45, 60, max: 100);
        ExpectReplay(probe, Range(45, 50), 50);
    }

    [Fact]
    public void All_keys_of_one_persistence_id_share_a_hash_slot_even_with_braces_in_the_id()
    {
        var pid = "order{42}%-" + Guid.NewGuid();
        WriteBatch(pid, 1, 2);
        var probe = CreateTestProbe();
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(pid, 2, DateTime.UtcNow), "s"), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>();

        var keys = new RedisKeys("akka:persistence:");
        RedisKey[] all = [keys.Events(pid), keys.Highest(pid), keys.SnapshotIndex(pid), keys.SnapshotTimestamps(pid), keys.SnapshotData(pid)];
        foreach (var key in all)
        {
            Assert.True(Redis.Db.KeyExists(key), $"{key} should exist");
            Assert.Contains("{order%7B42%7D%25-", (string)key!);
        }
        var slots = all.Select(k => Redis.Db.Multiplexer.HashSlot(k)).Distinct().ToList();
        Assert.Single(slots);
        // and a different id gets different keys (the escape is one-to-one)
        Assert.NotEqual(keys.Events("order%7B42%7D"), keys.Events("order{42}"));
    }

    [Fact]
    public async Task The_highest_sequence_number_survives_deleting_everything_and_a_new_journal_actor()
    {
        WriteBatch(Pid, 1, 5);
        var deleter = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(Pid, long.MaxValue, deleter));
        deleter.ExpectMsg<DeleteMessagesSuccess>();

        // A second actor system has a journal actor of its own, which can only know the highest from Redis.
        var other = ActorSystem.Create("other", TestConfig.For(Redis));
        try
        {
            var probe = new Akka.TestKit.TestProbe(other, new Akka.TestKit.Xunit2.XunitAssertions());
            Akka.Persistence.Persistence.Instance.Apply(other).JournalFor(null)
                .Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, Pid, probe.Ref));
            await probe.ExpectMsgAsync<RecoverySuccess>(m => Assert.Equal(5, m.HighestSequenceNr), TimeSpan.FromSeconds(10));
        }
        finally
        {
            await other.Terminate();
        }
    }

    [Fact]
    public void A_write_at_or_below_the_stored_highest_fails_instead_of_duplicating()
    {
        WriteBatch(Pid, 1, 3);
        var probe = CreateTestProbe();
        Write(probe, Atomic(Event("stale", 2)));
        probe.ExpectMsg<WriteMessagesFailed>(m => Assert.Contains("SEQCONFLICT", m.Cause.ToString()));
        probe.ExpectMsg<WriteMessageFailure>();
        Replay(probe, 1, long.MaxValue);
        ExpectReplay(probe, Range(1, 3), 3);
    }

    [Fact]
    public void After_redis_lost_the_journal_a_writer_going_on_from_its_old_highest_fails_instead_of_leaving_a_gap()
    {
        WriteBatch(Pid, 1, 5);
        // What a FLUSHALL, or a restart without the append-only file, leaves of this persistence id: nothing.
        var keys = new RedisKeys("akka:persistence:");
        Redis.Db.KeyDelete([keys.Events(Pid), keys.Highest(Pid)]);
        var probe = CreateTestProbe();
        Write(probe, Atomic(Event("a-6", 6)));
        probe.ExpectMsg<WriteMessagesFailed>(m => Assert.Contains("SEQCONFLICT", m.Cause.ToString()));
        probe.ExpectMsg<WriteMessageFailure>();
        Replay(probe, 1, long.MaxValue);
        ExpectReplay(probe, [], 0); // no event 6 after nothing: the writer fails, recovers empty, starts at 1
    }

    [Fact]
    public void A_replay_right_after_a_write_sees_the_write()
    {
        // The write and the highest-sequence read go out in order on one connection; no stale highest.
        var writer = CreateTestProbe();
        Write(writer, Range(1, 100).Select(n => Atomic(Event($"a-{n}", n))).ToArray());
        var probe = CreateTestProbe();
        Replay(probe, 1, long.MaxValue);
        ExpectReplay(probe, Range(1, 100), 100);
        writer.ExpectMsg<WriteMessagesSuccessful>();
    }

    [Fact]
    public void Snapshot_timestamps_come_back_as_the_same_instant_in_utc()
    {
        var probe = CreateTestProbe();
        var local = new DateTime(2025, 6, 1, 12, 0, 0, DateTimeKind.Local).AddTicks(1234567);
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 3, local), "s"), probe.Ref);
        probe.ExpectMsg<SaveSnapshotSuccess>();
        SnapshotStore.Tell(new LoadSnapshot(Pid, SnapshotSelectionCriteria.Latest, long.MaxValue), probe.Ref);
        var loaded = probe.ExpectMsg<LoadSnapshotResult>().Snapshot!;
        Assert.Equal(DateTimeKind.Utc, loaded.Metadata.Timestamp.Kind);
        Assert.Equal(local.ToUniversalTime().Ticks, loaded.Metadata.Timestamp.Ticks);
    }

    [Fact]
    public void Delete_by_criteria_honours_the_minimum_sequence_number_and_timestamp()
    {
        var probe = CreateTestProbe();
        var start = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 1; i <= 6; i++)
        {
            SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, i, start.AddMinutes(i)), $"s-{i}"), probe.Ref);
            probe.ExpectMsg<SaveSnapshotSuccess>();
        }
        // seq 2..5, but only timestamps from minute 3 on: deletes 3, 4, 5.
        var criteria = new SnapshotSelectionCriteria(5, DateTime.MaxValue, 2, start.AddMinutes(3));
        SnapshotStore.Tell(new DeleteSnapshots(Pid, criteria), probe.Ref);
        probe.ExpectMsg<DeleteSnapshotsSuccess>();

        var left = Redis.Db.SortedSetRangeByScore(new RedisKeys("akka:persistence:").SnapshotIndex(Pid))
            .Select(v => (long)v).ToArray();
        Assert.Equal([1L, 2L, 6L], left);
        // and loading honours the minimum bounds as well
        SnapshotStore.Tell(new LoadSnapshot(Pid, new SnapshotSelectionCriteria(5, DateTime.MaxValue, 3, null), long.MaxValue), probe.Ref);
        Assert.Null(probe.ExpectMsg<LoadSnapshotResult>().Snapshot);
    }

    [Fact]
    public void Tags_are_kept_in_the_stored_event()
    {
        var probe = CreateTestProbe();
        Write(probe, Atomic(Event(new Akka.Persistence.Journal.Tagged("tagged", ["red", "blue"]), 1)));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>();
        var raw = (byte[])Redis.Db.SortedSetRangeByRank(new RedisKeys("akka:persistence:").Events(Pid))[0]!;
        var stored = EventEnvelope.Decode(raw);
        Assert.Equal(["blue", "red"], stored.Tags.Order());
        Assert.Equal(EventEnvelope.Version1, raw[0]);
        Replay(probe, 1, long.MaxValue);
        probe.ExpectMsg<ReplayedMessage>(m => Assert.Equal("tagged", m.Persistent.Payload));
    }

    [Fact]
    public async Task An_owned_multiplexer_is_disposed_when_the_journal_stops()
    {
        // A journal actor must be created by the persistence extension, so the subclass has a plugin id of its own.
        var journal = Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor("akka.persistence.journal.exposed");
        journal.Tell(ExposedJournal.GetMultiplexer.Instance, TestActor);
        var reply = await ExpectMsgAsync<object>(TimeSpan.FromSeconds(10));
        var mux = Assert.IsAssignableFrom<IConnectionMultiplexer>(reply);
        Assert.True(mux.IsConnected);
        Watch(journal);
        Sys.Stop(journal);
        ExpectTerminated(journal);
        await AwaitAssertAsync(() => Assert.ThrowsAny<ObjectDisposedException>(() => mux.GetDatabase().Ping()));
    }

    [Fact]
    public async Task An_injected_multiplexer_is_used_and_left_open()
    {
        await using var mux = await ConnectionMultiplexer.ConnectAsync(Redis.ConnectionString);
        var setup = ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(TestConfig.For(Redis)),
            new RedisPersistenceSetup(mux));
        var other = ActorSystem.Create("injected", setup);
        var probe = new Akka.TestKit.TestProbe(other, new Akka.TestKit.Xunit2.XunitAssertions());
        var journal = Akka.Persistence.Persistence.Instance.Apply(other).JournalFor(null);
        journal.Tell(new ExposedJournal.GetMultiplexer(), probe.Ref); // ignored by the plain journal
        journal.Tell(new WriteMessages([Atomic(Event("x", 1))], probe.Ref, 1));
        probe.ExpectMsg<WriteMessagesSuccessful>(TimeSpan.FromSeconds(10));
        await other.Terminate();
        Assert.True(mux.IsConnected);
        Assert.True((await mux.GetDatabase().PingAsync()) >= TimeSpan.Zero);
        Assert.True(await Redis.Db.KeyExistsAsync(new RedisKeys("akka:persistence:").Events(Pid)));
    }

}

/// <summary>The journal, answering one more message so a test can reach its multiplexer.</summary>
public sealed class ExposedJournal(Config config) : RedisJournal(config)
{
    public sealed class GetMultiplexer
    {
        public static readonly GetMultiplexer Instance = new();
    }

    protected override bool ReceivePluginInternal(object message)
    {
        if (message is not GetMultiplexer) return base.ReceivePluginInternal(message);
        Sender.Tell(Multiplexer);
        return true;
    }
}
