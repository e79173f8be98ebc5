using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using Akka.TestKit;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Infrastructure;

/// <summary>
/// Base of the TCK-style specs: talks straight to the journal and snapshot store actors with test probes, each
/// test with a fresh persistence id and writer guid, as the Akka.Persistence TCK does.
/// </summary>
public abstract class PluginSpec : Akka.TestKit.Xunit2.TestKit, IClassFixture<RedisFixture>
{
    private static int _counter;

    protected PluginSpec(RedisFixture redis, ITestOutputHelper output, string extraConfig = "")
        : base(TestConfig.For(redis, extraConfig), null, output)
    {
        Redis = redis;
        Pid = $"p-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid():N}";
        WriterGuid = Guid.NewGuid().ToString();
    }

    protected const int ActorInstanceId = 1;

    protected RedisFixture Redis { get; }

    protected string Pid { get; }

    protected string WriterGuid { get; }

    protected IActorRef Journal => Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);

    protected IActorRef SnapshotStore => Akka.Persistence.Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);

    protected Persistent Event(object payload, long seq, string? pid = null, IActorRef? sender = null,
        string manifest = "") =>
        new(payload, seq, pid ?? Pid, manifest, false, sender ?? ActorRefs.NoSender, WriterGuid);

    protected static AtomicWrite Atomic(params Persistent[] events) =>
        new(events.ToImmutableList<IPersistentRepresentation>());

    protected void Write(IActorRef persistentActor, params AtomicWrite[] writes) =>
        Journal.Tell(new WriteMessages(writes, persistentActor, ActorInstanceId));

    /// <summary>Writes a-1..a-5 for <see cref="Pid"/> as [1], [2], [3], [4, 5] and checks every reply in order.</summary>
    protected void WriteFiveEvents()
    {
        var probe = CreateTestProbe();
        Write(probe, Atomic(Event("a-1", 1)), Atomic(Event("a-2", 2)), Atomic(Event("a-3", 3)),
            Atomic(Event("a-4", 4), Event("a-5", 5)));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        for (var n = 1; n <= 5; n++)
        {
            var seq = n;
            probe.ExpectMsg<WriteMessageSuccess>(m =>
            {
                Assert.Equal($"a-{seq}", m.Persistent.Payload);
                Assert.Equal(seq, m.Persistent.SequenceNr);
                Assert.Equal(Pid, m.Persistent.PersistenceId);
                Assert.Equal(ActorInstanceId, m.ActorInstanceId);
            });
        }
    }

    protected void Replay(IActorRef replyTo, long from, long to, long max = long.MaxValue, string? pid = null) =>
        Journal.Tell(new ReplayMessages(from, to, max, pid ?? Pid, replyTo));

    /// <summary>Expects exactly the replayed events a-n for <paramref name="seqs"/>, in order, then the highest.</summary>
    protected void ExpectReplay(TestProbe probe, IEnumerable<long> seqs, long highest)
    {
        foreach (var seq in seqs)
        {
            probe.ExpectMsg<ReplayedMessage>(m =>
            {
                Assert.Equal($"a-{seq}", m.Persistent.Payload);
                Assert.Equal(seq, m.Persistent.SequenceNr);
                Assert.Equal(Pid, m.Persistent.PersistenceId);
                Assert.False(m.Persistent.IsDeleted);
            });
        }
        probe.ExpectMsg<RecoverySuccess>(m => Assert.Equal(highest, m.HighestSequenceNr));
    }

    protected static IEnumerable<long> Range(long from, long to)
    {
        for (var i = from; i <= to; i++) yield return i;
    }
}
