using Akka.Actor;
using Akka.Serialization;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>A payload as Akka serialized it: the bytes and what is needed to read them back.</summary>
internal readonly record struct SerializedPayload(int SerializerId, string Manifest, byte[] Bytes);

/// <summary>
/// Runs Akka serialization inside the system's transport context, so payloads holding actor references
/// (serialized as full paths) round-trip.
/// </summary>
internal sealed class PayloadSerializer
{
    private readonly ExtendedActorSystem _system;
    private readonly Serialization _serialization;
    private readonly string? _defaultSerializer;

    public PayloadSerializer(ActorSystem system, string? defaultSerializer)
    {
        _system = (ExtendedActorSystem)system;
        _serialization = system.Serialization;
        _defaultSerializer = defaultSerializer;
    }

    public SerializedPayload Serialize(object payload) =>
        Serialization.WithTransport(_system, (this, payload), static s =>
        {
            var serializer = s.Item1._serialization.FindSerializerFor(s.payload, s.Item1._defaultSerializer);
            var manifest = Serialization.ManifestFor(serializer, s.payload);
            return new SerializedPayload(serializer.Identifier, manifest, serializer.ToBinary(s.payload));
        });

    public object Deserialize(in SerializedPayload payload)
    {
        var p = payload;
        return Serialization.WithTransport(_system, (this, p), static s =>
            s.Item1._serialization.Deserialize(s.p.Bytes, s.p.SerializerId, s.p.Manifest));
    }
}
