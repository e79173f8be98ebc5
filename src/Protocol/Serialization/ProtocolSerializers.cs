using Akka.Configuration;

namespace CeleryActors.Protocol.Serialization;

/// <summary>
/// The serializer bindings every actor system that talks to the nodes needs (host nodes and actor clients alike),
/// as HOCON for systems built without Akka.Hosting.
/// </summary>
public static class ProtocolSerializers
{
    /// <summary>Binds the allocator protocol, the client protocol and the metrics commands.</summary>
    public static Config Bindings { get; } = ConfigurationFactory.ParseString("""
        akka.actor.serializers {
          celery-allocator = "CeleryActors.Protocol.Serialization.AllocatorSerializer, CeleryActors.Protocol"
          celery-client = "CeleryActors.Protocol.Serialization.ClientSerializer, CeleryActors.Protocol"
        }
        akka.actor.serialization-bindings {
          "CeleryActors.Messages.Allocator.IAllocatorProtocol, CeleryActors.Messages" = celery-allocator
          "CeleryActors.Messages.Client.IClientProtocol, CeleryActors.Messages" = celery-client
          "CeleryActors.Messages.Metrics.IMetricsCommand, CeleryActors.Messages" = celery-client
        }
        akka.actor.serialization-identifiers {
          "CeleryActors.Protocol.Serialization.AllocatorSerializer, CeleryActors.Protocol" = 4401
          "CeleryActors.Protocol.Serialization.ClientSerializer, CeleryActors.Protocol" = 4402
        }
        """);
}
