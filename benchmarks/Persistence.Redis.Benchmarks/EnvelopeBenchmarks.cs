using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using CeleryActors.Persistence.Redis.Internal;

namespace CeleryActors.Persistence.Redis.Benchmarks;

/// <summary>Cost of the journal's binary envelope, per event, without Redis.</summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private StoredEvent _event = null!;
    private byte[] _bytes = null!;

    [Params(16, 1024)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _event = new StoredEvent(123_456, Guid.NewGuid().ToString(), "adapter-v1", DateTime.UtcNow.Ticks,
            ImmutableHashSet.Create("queue-a"), new SerializedPayload(42, "M", new byte[PayloadBytes]));
        _bytes = EventEnvelope.Encode(_event);
    }

    [Benchmark]
    public byte[] Encode() => EventEnvelope.Encode(_event);

    [Benchmark]
    public long Decode() => EventEnvelope.Decode(_bytes).SequenceNr;
}
