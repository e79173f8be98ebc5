using Akka.Persistence;
using Akka.Persistence.Fsm;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Conformance;

/// <summary>Journal cases 17-20 of journal-contract.md §1.2 (the TCK's JournalSerializationSpec).</summary>
public sealed class JournalSerializationSpec(RedisFixture redis, ITestOutputHelper output) : PluginSpec(redis, output)
{
    private Persistent RoundTrip(object payload, string manifest = "")
    {
        var probe = CreateTestProbe();
        Write(probe, Atomic(Event(payload, 1, manifest: manifest)));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>();
        Replay(probe, 1, long.MaxValue);
        var replayed = probe.ExpectMsg<ReplayedMessage>().Persistent;
        probe.ExpectMsg<RecoverySuccess>(m => Assert.Equal(1, m.HighestSequenceNr));
        return (Persistent)replayed;
    }

    [Fact] // 17
    public void Round_trips_a_payload_of_a_serializer_that_includes_the_type_manifest()
    {
        var replayed = RoundTrip(new ManifestPayload("a"));
        // The dots prove the payload went through ManifestSerializer both ways, with its type manifest kept.
        Assert.Equal(new ManifestPayload(".a."), replayed.Payload);
    }

    [Fact] // 18
    public void Round_trips_a_payload_of_a_serializer_with_string_manifest()
    {
        var replayed = RoundTrip(new StringManifestPayload("b"));
        Assert.Equal(new StringManifestPayload(".b."), replayed.Payload);
    }

    [Fact] // 19
    public void Keeps_the_event_adapter_manifest()
    {
        var replayed = RoundTrip("payload", manifest: "my-adapter-manifest-v2");
        Assert.Equal("my-adapter-manifest-v2", replayed.Manifest);
        Assert.Equal("payload", replayed.Payload);
    }

    [Fact] // 20
    public void Round_trips_a_persistent_fsm_state_change_event()
    {
        var replayed = RoundTrip(new PersistentFSM.StateChangeEvent("running", TimeSpan.FromSeconds(3)));
        var e = Assert.IsType<PersistentFSM.StateChangeEvent>(replayed.Payload);
        Assert.Equal("running", e.StateIdentifier);
        Assert.Equal(TimeSpan.FromSeconds(3), e.Timeout);
    }
}
