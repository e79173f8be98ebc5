using Akka.Cluster.Hosting;
using Akka.Cluster.Tools.Client;
using Akka.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Client;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using CeleryActors.Protocol.Serialization;
using StackExchange.Redis;

namespace CeleryActors.Actors.Hosting;

/// <summary>The node's side of the actor client (SPEC §9) as an Akka.Hosting feature.</summary>
public static class ClientGatewayHostingExtensions
{
    /// <summary>
    /// Adds the client gateway: the serializer of the client protocol and the metrics commands, the cluster client
    /// receptionist (at <c>/system/receptionist</c>, where clients' initial contacts point), and one
    /// <see cref="ClientGatewayActor"/> registered with it under <see cref="ClientGatewayActor.ServicePath"/> and in
    /// the <see cref="ActorRegistry"/>. Needs <see cref="CeleryActorsHostingExtensions.AddMetricsRecorder"/>,
    /// <see cref="AllocatorHostingExtensions.AddAllocator"/>, and the <see cref="IConnectionMultiplexer"/> and
    /// <see cref="AllocatorSettings"/> services.
    /// </summary>
    public static AkkaConfigurationBuilder AddClientGateway(this AkkaConfigurationBuilder builder) =>
        builder
            .AddClientSerializer()
            .WithClusterClientReceptionist()
            .WithActors((system, registry, resolver) =>
            {
                var gateway = system.ActorOf(ClientGatewayActor.Props(registry.Get<MetricsRecorderActor>(),
                    registry.Get<QueueRegion>(), registry.Get<WorkerRegion>(),
                    resolver.GetService<IConnectionMultiplexer>(), resolver.GetService<AllocatorSettings>()),
                    ClientGatewayActor.Name);
                registry.Register<ClientGatewayActor>(gateway);
                ClusterClientReceptionist.Get(system).RegisterService(gateway);
            });

    /// <summary>Binds <see cref="IClientProtocol"/> and <see cref="IMetricsCommand"/> to the <see cref="ClientSerializer"/>.</summary>
    public static AkkaConfigurationBuilder AddClientSerializer(this AkkaConfigurationBuilder builder) =>
        builder.WithCustomSerializer("celery-client", [typeof(IClientProtocol), typeof(IMetricsCommand)],
            system => new ClientSerializer(system));
}
