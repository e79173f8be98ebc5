using Akka.Configuration;
using Akka.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Health;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Actors.Supervision;
using StackExchange.Redis;

namespace CeleryActors.Actors.Hosting;

/// <summary>
/// The node's features as Akka.Hosting extension methods; a host chains the ones it wants. Each long-lived actor
/// is registered in the <see cref="ActorRegistry"/> under its own type, to be fetched with
/// <c>IRequiredActor&lt;T&gt;</c>.
/// </summary>
public static class CeleryActorsHostingExtensions
{
    /// <summary>The name of every node's actor system; nodes of one cluster must share it.</summary>
    public const string ActorSystemName = "celery-actors";

    /// <summary>The HOCON defaults of <c>hocon/celery-actors.conf</c>, embedded in this assembly.</summary>
    public static Config ReferenceConfig { get; } = LoadReference();

    /// <summary>Adds the HOCON defaults as a fallback under whatever the host sets.</summary>
    public static AkkaConfigurationBuilder AddCeleryActorsDefaults(this AkkaConfigurationBuilder builder) =>
        builder.AddHocon(ReferenceConfig, HoconAddMode.Append);

    /// <summary>
    /// Starts the metrics recorder (the node's metric aggregation and its observation pipeline), recording into
    /// the <see cref="CeleryMetrics"/> registered in the service provider.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="settings">The observation pipeline's settings.</param>
    /// <param name="labelTtl">How long a label value may go unseen before its series are removed; one hour when
    /// null.</param>
    public static AkkaConfigurationBuilder AddMetricsRecorder(
        this AkkaConfigurationBuilder builder, ObservationPipelineSettings settings, TimeSpan? labelTtl = null) =>
        builder.WithActors((system, registry, resolver) =>
        {
            var metrics = resolver.GetService<CeleryMetrics>();
            // Absent where a host runs no allocator, or no Celery monitor.
            var allocator = resolver.GetService<AllocatorMetrics>();
            var celery = resolver.GetService<CeleryMonitorMetrics>();
            // Restarted in place on failure (the default strategy): its counters live outside it, and a back-off
            // pause would drop what arrives meanwhile.
            var recorder = system.ActorOf(
                MetricsRecorderActor.Props(metrics, settings, labelTtl,
                    allocator is null ? null : allocator.AllocationDurationSeries,
                    celery is null ? null : celery.QueueWaitSeries), "metrics");
            registry.Register<MetricsRecorderActor>(recorder);
        });

    /// <summary>
    /// Keeps the <see cref="MessageOwnership"/> of the service provider in step with the cluster's members, so
    /// that of the pub/sub messages every node hears, each is counted by one node.
    /// </summary>
    public static AkkaConfigurationBuilder AddMessageOwnership(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry, resolver) =>
        {
            // Without the shared instance the subscriptions would count nothing or everything: fail at start.
            var shared = resolver.GetService<MessageOwnership>() ?? throw new InvalidOperationException(
                "AddMessageOwnership needs a MessageOwnership singleton in the service collection " +
                "(services.AddSingleton(new MessageOwnership()))");
            var ownership = system.ActorOf(MessageOwnershipActor.Props(shared), "message-ownership");
            registry.Register<MessageOwnershipActor>(ownership);
        });

    /// <summary>
    /// Starts the Redis subscription on the <see cref="IConnectionMultiplexer"/> of the service provider. Needs
    /// <see cref="AddMetricsRecorder"/> and <see cref="AddMessageOwnership"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddRedisSubscription(
        this AkkaConfigurationBuilder builder, SubscriptionSettings settings) =>
        builder.WithActors((system, registry, resolver) =>
        {
            var redis = resolver.GetService<IConnectionMultiplexer>();
            var metrics = registry.Get<MetricsRecorderActor>();
            var subscription = system.ActorOf(
                BackoffRestarts.OnFailure(RedisSubscriptionActor.Props(redis, settings, metrics,
                    resolver.GetService<MessageOwnership>()), "redis-subscription"),
                "subscription");
            registry.Register<RedisSubscriptionActor>(subscription);
        });

    /// <summary>Starts the node's health monitor, which probes Redis every <paramref name="probeInterval"/> and, with
    /// <paramref name="leaveAfter"/>, leaves the cluster when Redis stays out of reach that long (noted in the
    /// <see cref="RedisCutOff"/> of the service provider, when there is one).</summary>
    public static AkkaConfigurationBuilder AddNodeHealth(this AkkaConfigurationBuilder builder, TimeSpan probeInterval,
        TimeSpan? leaveAfter = null) =>
        builder.WithActors((system, registry, resolver) =>
        {
            var health = system.ActorOf(NodeHealthActor.Props(
                resolver.GetService<IConnectionMultiplexer>(), resolver.GetService<CeleryMetrics>(), probeInterval,
                leaveAfter, resolver.GetService<RedisCutOff>()),
                "health");
            registry.Register<NodeHealthActor>(health);
        });

    private static Config LoadReference()
    {
        using var stream = typeof(CeleryActorsHostingExtensions).Assembly
                               .GetManifestResourceStream("CeleryActors.celery-actors.conf")
                           ?? throw new InvalidOperationException("celery-actors.conf is not embedded");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
