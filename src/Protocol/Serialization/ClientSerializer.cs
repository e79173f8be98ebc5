using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;

namespace CeleryActors.Protocol.Serialization;

/// <summary>
/// Serializes the messages that cross between the actor client and the nodes and are not allocator protocol:
/// the <see cref="IClientProtocol"/> records and the <see cref="IMetricsCommand"/>s, as System.Text.Json with a
/// short string manifest per type. Nothing of these is persisted, yet the manifests are a wire contract between
/// client and node versions: add types, do not change manifests.
/// </summary>
public sealed class ClientSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer's identifier, unique in the actor system.</summary>
    public const int Id = 4402;

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Every serialized type and its manifest.</summary>
    public static readonly FrozenDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(PublishTask)] = "publish-task",
        [typeof(TaskPublished)] = "task-published",
        [typeof(MetricsCommandAccepted)] = "metrics-accepted",
        [typeof(GetWorkers)] = "get-workers",
        [typeof(Workers)] = "workers",
        [typeof(GetQueues)] = "get-queues",
        [typeof(Queues)] = "queues",
        [typeof(GetQueue)] = "get-queue",
        [typeof(GetHistory)] = "get-history",
        [typeof(QueueNotFound)] = "queue-not-found",
        [typeof(GatewayFailure)] = "gateway-failure",
        [typeof(TrackTaskExecution)] = "m-task-execution",
        [typeof(UpdateQueueLength)] = "m-queue-length",
        [typeof(TrackPubSubMessage)] = "m-pubsub-message",
        [typeof(ClientRequest)] = "request",
        [typeof(ClientResponse)] = "response",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, Type> Types =
        Manifests.ToDictionary(p => p.Value, p => p.Key).ToFrozenDictionary();

    /// <summary>Creates the serializer.</summary>
    public ClientSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new ArgumentException($"{o.GetType()} is not a client protocol message", nameof(o));

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => obj switch
    {
        ClientRequest r => JsonSerializer.SerializeToUtf8Bytes(Wrap(r.Id, r.Request), Options),
        ClientResponse r => JsonSerializer.SerializeToUtf8Bytes(Wrap(r.Id, r.Response), Options),
        _ => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options),
    };

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "request" => Unwrap(bytes, (id, inner) => new ClientRequest(id, inner)),
        "response" => Unwrap(bytes, (id, inner) => new ClientResponse(id, inner)),
        _ => Types.TryGetValue(manifest, out var type)
            ? JsonSerializer.Deserialize(bytes, type, Options)!
            : throw new System.Runtime.Serialization.SerializationException($"unknown client manifest '{manifest}'"),
    };

    // The enveloped message keeps its own serializer (allocator or client protocol), named by id and manifest.
    private Envelope Wrap(long id, object inner)
    {
        var serializer = system.Serialization.FindSerializerFor(inner);
        return new Envelope(id, serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, inner),
            serializer.ToBinary(inner));
    }

    private object Unwrap(byte[] bytes, Func<long, object, object> create)
    {
        var e = JsonSerializer.Deserialize<Envelope>(bytes, Options)
                ?? throw new System.Runtime.Serialization.SerializationException("empty client envelope");
        return create(e.Id, system.Serialization.Deserialize(e.Payload, e.Serializer, e.Manifest));
    }

    private sealed record Envelope(long Id, int Serializer, string Manifest, byte[] Payload);
}
