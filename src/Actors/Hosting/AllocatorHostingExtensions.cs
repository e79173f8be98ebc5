using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using Akka.DependencyInjection;
using Akka.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Actors.Supervision;
using CeleryActors.Messages.Allocator;
using CeleryActors.Protocol.Serialization;
using StackExchange.Redis;

namespace CeleryActors.Actors.Hosting;

/// <summary>The allocator (SPEC §4) as an Akka.Hosting feature.</summary>
public static class AllocatorHostingExtensions
{
    /// <summary>Shard type name of the queue entities.</summary>
    public const string QueueTypeName = AllocatorMessageExtractor.QueueTypeName;

    /// <summary>Shard type name of the worker entities.</summary>
    public const string WorkerTypeName = AllocatorMessageExtractor.WorkerTypeName;

    /// <summary>
    /// Adds the allocator: the serializer of its protocol, the queue and worker shard regions (registered under
    /// <see cref="QueueRegion"/> and <see cref="WorkerRegion"/>), its Redis subscription (supervised with
    /// back-off) and the durable intake reading the task streams (<see cref="StreamIntakeActor"/>, supervised alike).
    /// The regions remember their entities, so in-flight assignments and worker liveness are watched again after a
    /// restart or a move without a message to each. Needs a journal and snapshot store
    /// (e.g. <c>WithRedisPersistence</c>), the <see cref="AllocatorMetrics"/> and <see cref="IConnectionMultiplexer"/>
    /// services (the entities reach Redis through <see cref="AllocatorRedis"/>), <see cref="CeleryActorsHostingExtensions.AddMetricsRecorder"/> and
    /// <see cref="CeleryActorsHostingExtensions.AddMessageOwnership"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddAllocator(this AkkaConfigurationBuilder builder, AllocatorSettings settings)
    {
        // What the entities do on Redis besides their journal, on the node's shared connection.
        IAllocatorRedis EntitiesRedis(IDependencyResolver resolver) =>
            new AllocatorRedis(resolver.GetService<IConnectionMultiplexer>(), settings);
        return builder
            .AddAllocatorSerializer()
            .WithAllocatorRegion<QueueRegion>(QueueTypeName, (queue, registry, resolver) =>
                BackoffRestarts.OnStop(QueueEntityActor.Props(queue, settings,
                    EntitiesRedis(resolver), resolver.GetService<AllocatorMetrics>(), registry), "queue"))
            .WithAllocatorRegion<WorkerRegion>(WorkerTypeName, (worker, registry, resolver) =>
                BackoffRestarts.OnStop(WorkerEntityActor.Props(worker, settings,
                    EntitiesRedis(resolver), resolver.GetService<AllocatorMetrics>(), registry), "worker"))
            .WithActors((system, registry, resolver) =>
            {
                var redis = resolver.GetService<IConnectionMultiplexer>();
                var queues = registry.Get<QueueRegion>();
                var workers = registry.Get<WorkerRegion>();
                var subscription = system.ActorOf(BackoffRestarts.OnFailure(
                    AllocatorSubscriptionActor.Props(redis, settings, registry.Get<MetricsRecorderActor>(),
                        resolver.GetService<AllocatorMetrics>(), queues, workers, resolver.GetService<MessageOwnership>()),
                    "allocator-subscription"), "allocator-subscription");
                registry.Register<AllocatorSubscriptionActor>(subscription);
                var intake = system.ActorOf(BackoffRestarts.OnFailure(
                    StreamIntakeActor.Props(redis, settings, queues, registry.Get<MetricsRecorderActor>(),
                        resolver.GetService<AllocatorMetrics>()),
                    "stream-intake"), "stream-intake");
                registry.Register<StreamIntakeActor>(intake);
            });
    }

    // A shard region whose shards live where their pub/sub messages are taken (OwnerShardAllocationStrategy), which
    // Akka.Hosting's WithShardRegion cannot be given; started the way it starts one, and registered under TKey.
    private static AkkaConfigurationBuilder WithAllocatorRegion<TKey>(this AkkaConfigurationBuilder builder,
        string typeName, Func<string, IActorRegistry, IDependencyResolver, Props> entityProps) =>
        builder.WithActors((system, registry, resolver) =>
        {
            var config = system.Settings.Config;
            // Entities hold timers (ack deadlines, worker liveness): each shard remembers its entities (in the
            // journal, with the coordinator's state) and starts them again wherever it starts, with no message for
            // them; only an entity that passivates itself (nothing to watch) is forgotten.
            var settings = ClusterShardingSettings.Create(
                ConfigurationFactory.ParseString("remember-entities = on")
                    .WithFallback(config.GetConfig("akka.cluster.sharding")),
                config.GetConfig("akka.cluster.singleton"));
            var region = ClusterSharding.Get(system).Start(typeName, entity => entityProps(entity, registry, resolver),
                settings, new AllocatorMessageExtractor(), new OwnerShardAllocationStrategy(typeName), PoisonPill.Instance);
            registry.Register<TKey>(region);
        });

    /// <summary>Binds <see cref="IAllocatorProtocol"/> to the <see cref="AllocatorSerializer"/>.</summary>
    public static AkkaConfigurationBuilder AddAllocatorSerializer(this AkkaConfigurationBuilder builder) =>
        builder.WithCustomSerializer("celery-allocator", [typeof(IAllocatorProtocol)],
            system => new AllocatorSerializer(system));

}
