using System.Text.Json;
using Akka.TestKit.Xunit2;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using CeleryActors.Protocol.Serialization;
using Xunit;

namespace CeleryActors.Tests.Client;

/// <summary>Every message of the client wire goes through its string-manifest serializer and back, bound by the
/// same HOCON a client without Akka.Hosting uses.</summary>
public class ClientSerializerTests() : TestKit(ProtocolSerializers.Bindings)
{
    private static readonly Dictionary<string, CapabilityValue> Caps = new()
    {
        ["gpu"] = CapabilityValue.Of(1), ["zone"] = CapabilityValue.Of("eu"),
    };

    private static readonly QueueStats Stats = new("q", new Dictionary<int, int> { [9] = 1 }, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1);
    private static readonly WorkerStatus Worker = new("w1", true, ["q"], Caps, 4, 1, true, 12.5);

    public static IEnumerable<object[]> Messages() => new object[]
    {
        new PublishTask("q", "t1", "job", """{"a":[1,"x"]}""", 9, Caps, 1.5),
        new PublishTask("q", "t2", "job", "null", 0, null, null),
        new TaskPublished("q", "t1"),
        new MetricsCommandAccepted("queue_length"),
        new GetWorkers(),
        new Workers([Worker]),
        new GetQueues(),
        new Queues([Stats]),
        new GetQueue("q"),
        new GetHistory("q", 10),
        new QueueNotFound("q"),
        new GatewayFailure("GetQueues", "timed out"),
        new TrackTaskExecution("job", "q", 0.25, TaskOutcome.Failure, "KeyError"),
        new TrackTaskExecution("job", "q", 0.25, TaskOutcome.Success),
        new UpdateQueueLength("q", 12),
        new TrackPubSubMessage("tasks:q", "task", 0.002),
        // Envelopes keep their content's own serializer: client protocol or allocator protocol.
        new ClientRequest(7, new PublishTask("q", "t1", "job", "null", 5, null, null)),
        new ClientRequest(long.MaxValue, new RegisterWorker("w", ["q"], Caps, 2)),
        new ClientResponse(7, new TaskPublished("q", "t1")),
        new ClientResponse(8, Worker),
    }.Select(m => new[] { m });

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_round_trips_through_the_bound_serializer(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<ClientSerializer>(serializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var copy = Sys.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, manifest);
        Assert.IsType(message.GetType(), copy);
        Assert.Equal(JsonSerializer.Serialize(message, message.GetType()), JsonSerializer.Serialize(copy, copy.GetType()));
    }

    [Fact]
    public void Every_client_and_metrics_command_type_has_a_manifest_and_a_round_trip_case()
    {
        var wire = typeof(IClientProtocol).Assembly.GetTypes()
            .Where(t => (typeof(IClientProtocol).IsAssignableFrom(t) || typeof(IMetricsCommand).IsAssignableFrom(t))
                        && t is { IsInterface: false, IsAbstract: false })
            .OrderBy(t => t.Name).ToList();
        Assert.Equal(wire, ClientSerializer.Manifests.Keys.OrderBy(t => t.Name));
        Assert.Equal(wire, Messages().Select(m => m[0].GetType()).Distinct().OrderBy(t => t.Name));
    }

    [Fact]
    public void Allocator_replies_the_client_receives_use_the_allocator_serializer_under_the_same_bindings()
    {
        Assert.IsType<AllocatorSerializer>(Sys.Serialization.FindSerializerFor(Stats));
        Assert.IsType<AllocatorSerializer>(Sys.Serialization.FindSerializerFor(new RegisterWorker("w", ["q"], Caps, 1)));
    }
}

public class ClientConfigTests
{
    [Fact]
    public async Task The_clients_own_system_serializes_cluster_client_envelopes_with_their_protobuf_serializer()
    {
        var options = new CeleryActors.Client.CeleryActorsClientOptions { Contacts = ["127.0.0.1:1"] };
        using var system = Akka.Actor.ActorSystem.Create("check", CeleryActors.Client.CeleryActorsClient.ClientConfig(options));
        var send = new Akka.Cluster.Tools.Client.ClusterClient.Send("/user/x", new GetWorkers());
        Assert.Equal(15, system.Serialization.FindSerializerFor(send).Identifier);
        // What actually crosses to the receptionist is distributed pub/sub's Send.
        var envelope = new Akka.Cluster.Tools.PublishSubscribe.Send("/user/x", new GetWorkers());
        Assert.Equal("DistributedPubSubMessageSerializer", system.Serialization.FindSerializerFor(envelope).GetType().Name);
        await system.Terminate();
    }
}
