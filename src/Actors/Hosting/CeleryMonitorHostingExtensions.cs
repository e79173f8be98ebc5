using Akka.Cluster.Hosting;
using Akka.Hosting;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Metrics;

namespace CeleryActors.Actors.Hosting;

/// <summary>
/// The Celery monitor's Akka.Hosting extension: the feature of <c>src/Actors/Celery</c> (docs/celery.md), started
/// on a node that also has the shared parts of <see cref="CeleryActorsHostingExtensions"/>.
/// </summary>
public static class CeleryMonitorHostingExtensions
{
    /// <summary>
    /// Monitors Celery brokers from one node of the cluster (a cluster singleton; see
    /// <see cref="CeleryMonitorActor"/>). Needs <see cref="CeleryActorsHostingExtensions.AddMetricsRecorder"/> and a <see cref="CeleryMonitorMetrics"/>
    /// in the service provider. With more than one broker, the <see cref="CeleryMetrics"/> of the service provider
    /// must have been made with the broker label.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="brokers">The brokers, each with its open connection (owned by the caller) and settings.</param>
    public static AkkaConfigurationBuilder AddCeleryMonitor(this AkkaConfigurationBuilder builder,
        IReadOnlyList<CeleryBrokerConnection> brokers) =>
        builder.WithSingleton<CeleryMonitorActor>("celery-monitor",
            (_, registry, resolver) =>
            {
                var metrics = resolver.GetService<CeleryMonitorMetrics>() ?? throw new InvalidOperationException(
                    "AddCeleryMonitor needs a CeleryMonitorMetrics singleton in the service collection " +
                    "(services.AddSingleton(new CeleryMonitorMetrics(celeryMetrics)))");
                // Two brokers' series without the label would add up and overwrite each other: refuse at start.
                if (brokers.Count > 1 && !metrics.Node.ByBrokerLabel)
                    throw new InvalidOperationException(
                        "several Celery brokers need CeleryMetrics made with byBroker: true (the broker label)");
                return CeleryMonitorActor.Props(brokers, metrics, registry.Get<MetricsRecorderActor>());
            },
            new ClusterSingletonOptions(), createProxyToo: false);
}
