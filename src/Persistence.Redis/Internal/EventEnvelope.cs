using System.Collections.Immutable;
using System.Text;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>One stored event as the journal keeps it: everything of the persistent representation but its id.</summary>
internal sealed record StoredEvent(
    long SequenceNr,
    string WriterGuid,
    string EventManifest,
    long Timestamp,
    IImmutableSet<string> Tags,
    SerializedPayload Payload);

/// <summary>
/// Binary layout of a journal entry (a member of the events sorted set). It starts with a format-version byte so
/// later versions can read old entries. The sequence number is inside the bytes, which makes every member unique.
/// Layout v1: version, seqNr (int64), writer guid, event-adapter manifest, timestamp (int64), serializer id
/// (int32), serializer manifest, tag count (7-bit) and tags, payload length (int32) and payload.
/// Strings are UTF-8 with a 7-bit length prefix.
/// </summary>
internal static class EventEnvelope
{
    public const byte Version1 = 1;

    public static byte[] Encode(StoredEvent e)
    {
        // Sized exactly up front: a stream that grows copies the entry two or three times (the guid and manifests
        // alone are over a hundred bytes), and this runs for every event the journal stores.
        var size = 1 + 8 + StringSize(e.WriterGuid) + StringSize(e.EventManifest) + 8 + 4 + StringSize(e.Payload.Manifest) +
                   VarIntSize(e.Tags.Count) + 4 + e.Payload.Bytes.Length;
        foreach (var tag in e.Tags) size += StringSize(tag);
        var bytes = new byte[size];
        using var stream = new MemoryStream(bytes, writable: true);
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version1);
            w.Write(e.SequenceNr);
            w.Write(e.WriterGuid);
            w.Write(e.EventManifest);
            w.Write(e.Timestamp);
            w.Write(e.Payload.SerializerId);
            w.Write(e.Payload.Manifest);
            w.Write7BitEncodedInt(e.Tags.Count);
            foreach (var tag in e.Tags) w.Write(tag);
            w.Write(e.Payload.Bytes.Length);
            w.Write(e.Payload.Bytes);
        }
        if (stream.Position != size)
            throw new InvalidOperationException($"Journal entry of {stream.Position} bytes where {size} were computed");
        return bytes;
    }

    // What BinaryWriter.Write(string) takes: a 7-bit length prefix and the UTF-8 bytes.
    private static int StringSize(string s)
    {
        var n = Encoding.UTF8.GetByteCount(s);
        return VarIntSize(n) + n;
    }

    private static int VarIntSize(int value)
    {
        var n = 1;
        for (var v = (uint)value; v >= 0x80; v >>= 7) n++;
        return n;
    }

    /// <exception cref="InvalidDataException">The bytes are not an envelope this version can read.</exception>
    public static StoredEvent Decode(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
        var version = r.ReadByte();
        if (version != Version1)
            throw new InvalidDataException($"Journal entry has format version {version}; this plugin reads version {Version1}");
        var seq = r.ReadInt64();
        var writer = r.ReadString();
        var manifest = r.ReadString();
        var timestamp = r.ReadInt64();
        var serializerId = r.ReadInt32();
        var serializerManifest = r.ReadString();
        var tagCount = r.Read7BitEncodedInt();
        var tags = ImmutableHashSet<string>.Empty;
        if (tagCount > 0)
        {
            var builder = ImmutableHashSet.CreateBuilder<string>();
            for (var i = 0; i < tagCount; i++) builder.Add(r.ReadString());
            tags = builder.ToImmutable();
        }
        var payload = r.ReadBytes(r.ReadInt32());
        return new StoredEvent(seq, writer, manifest, timestamp, tags, new SerializedPayload(serializerId, serializerManifest, payload));
    }
}

/// <summary>
/// Binary layout of a snapshot payload. Its sequence number and timestamp live outside, in the index and the
/// timestamp hash, so selecting a snapshot by criteria never reads a payload.
/// Layout v1: version, serializer id (int32), serializer manifest, payload bytes (to the end).
/// </summary>
internal static class SnapshotEnvelope
{
    public const byte Version1 = 1;

    public static byte[] Encode(SerializedPayload p)
    {
        using var stream = new MemoryStream(16 + p.Bytes.Length);
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version1);
            w.Write(p.SerializerId);
            w.Write(p.Manifest);
            w.Write(p.Bytes);
        }
        return stream.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not an envelope this version can read.</exception>
    public static SerializedPayload Decode(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        using var r = new BinaryReader(stream, Encoding.UTF8);
        var version = r.ReadByte();
        if (version != Version1)
            throw new InvalidDataException($"Snapshot has format version {version}; this plugin reads version {Version1}");
        var serializerId = r.ReadInt32();
        var manifest = r.ReadString();
        var payload = r.ReadBytes((int)(stream.Length - stream.Position));
        return new SerializedPayload(serializerId, manifest, payload);
    }
}
