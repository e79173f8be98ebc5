using System.Collections.Immutable;
using CeleryActors.Persistence.Redis.Internal;
using Xunit;

namespace CeleryActors.Persistence.Redis.Tests.Plugin;

/// <summary>The journal entry's binary layout, which is sized before it is written.</summary>
public sealed class EventEnvelopeSpec
{
    [Theory]
    [InlineData("", "", "", 0, 0)]
    [InlineData("3f2a9c1e-5b7d-4e8f-a0c1-2d3e4f5a6b7c", "evt", "CeleryActors.Messages.Allocator.QueueEventBatch, CeleryActors.Messages", 2, 300)]
    // Multi-byte UTF-8 and strings and a payload past the one-byte length prefix (127).
    [InlineData("writer-ü-€", "manifest-日本", "m", 3, 70_000)]
    public void An_entry_reads_back_as_it_was_written_and_holds_no_byte_more(string writer, string manifest,
        string serializerManifest, int tags, int payloadBytes)
    {
        var tagSet = Enumerable.Range(0, tags).Select(i => "tag-" + new string('t', i * 100) + "-ä").ToImmutableHashSet();
        var payload = Enumerable.Range(0, payloadBytes).Select(i => (byte)(i * 7)).ToArray();
        var stored = new StoredEvent(long.MaxValue - 3, writer, manifest, 638_000_000_000_000_000, tagSet,
            new SerializedPayload(-17, serializerManifest, payload));

        var bytes = EventEnvelope.Encode(stored);
        var read = EventEnvelope.Decode(bytes);

        Assert.Equal((stored.SequenceNr, writer, manifest, stored.Timestamp, -17, serializerManifest),
            (read.SequenceNr, read.WriterGuid, read.EventManifest, read.Timestamp, read.Payload.SerializerId, read.Payload.Manifest));
        Assert.Equal(payload, read.Payload.Bytes);
        Assert.True(tagSet.SetEquals(read.Tags));
        // The entry ends with the payload's length and the payload: nothing (no zero padding) follows.
        Assert.Equal(payload.Length, BitConverter.ToInt32(bytes, bytes.Length - payload.Length - 4));
        Assert.Equal(payload, bytes[^payload.Length..]);
    }
}
