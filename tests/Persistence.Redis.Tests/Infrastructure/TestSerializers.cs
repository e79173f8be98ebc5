using System.Text;
using Akka.Actor;
using Akka.Serialization;

namespace CeleryActors.Persistence.Redis.Tests.Infrastructure;

/// <summary>A payload holding an actor reference, which only round-trips inside Akka's transport context.</summary>
public sealed record TestPayload(IActorRef Ref);

/// <summary>Serializes <see cref="TestPayload"/> (id 666, manifest "A"); it throws outside a transport context.</summary>
public sealed class TestPayloadSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public override int Identifier => 666;

    public override string Manifest(object o) => "A";

    public override byte[] ToBinary(object obj)
    {
        // The journal must serialize inside Serialization.WithTransport, or a remote path could not be written.
        if (Serialization.GetCurrentTransportInformation() is null)
            throw new InvalidOperationException("serialized outside Akka's transport context");
        return Encoding.UTF8.GetBytes(Serialization.SerializedActorPath(((TestPayload)obj).Ref));
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (manifest != "A") throw new ArgumentException($"unknown manifest {manifest}");
        return new TestPayload(system.Provider.ResolveActorRef(Encoding.UTF8.GetString(bytes)));
    }
}

/// <summary>An event whose serializer always throws (the TCK's "not serializable" case, forced).</summary>
public sealed record NotSerializable(string Text);

public sealed class FailingSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public override int Identifier => 667;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) => throw new NotSupportedException($"{obj} cannot be serialized");

    public override object FromBinary(byte[] bytes, Type? type) => throw new NotSupportedException();
}

/// <summary>A payload for a manifest-carrying <see cref="Serializer"/> that marks the data it writes.</summary>
public sealed record ManifestPayload(string Data);

public sealed class ManifestSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public override int Identifier => 668;

    public override bool IncludeManifest => true;

    // Wrapping the data in dots shows after the round trip that this serializer, and no other, ran both ways.
    public override byte[] ToBinary(object obj) => Encoding.UTF8.GetBytes("." + ((ManifestPayload)obj).Data);

    public override object FromBinary(byte[] bytes, Type? type)
    {
        if (type != typeof(ManifestPayload)) throw new ArgumentException($"manifest type {type} was not kept");
        return new ManifestPayload(Encoding.UTF8.GetString(bytes) + ".");
    }
}

/// <summary>A payload for a <see cref="SerializerWithStringManifest"/>.</summary>
public sealed record StringManifestPayload(string Data);

public sealed class StringManifestSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public override int Identifier => 669;

    public override string Manifest(object o) => "string-manifest-v1";

    public override byte[] ToBinary(object obj) => Encoding.UTF8.GetBytes("." + ((StringManifestPayload)obj).Data);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (manifest != "string-manifest-v1") throw new ArgumentException($"manifest {manifest} was not kept");
        return new StringManifestPayload(Encoding.UTF8.GetString(bytes) + ".");
    }
}
