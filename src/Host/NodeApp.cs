using CeleryActors.Host.Logging;
using Microsoft.Extensions.Logging.Console;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Hosting;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Host.Configuration;
using CeleryActors.Host.Http;
using CeleryActors.Persistence.Redis.Hosting;
using CeleryActors.Redis;
using Prometheus;
using StackExchange.Redis;

namespace CeleryActors.Host;

/// <summary>Wires one host node: services, the actor system's features, and the HTTP endpoints.</summary>
public static class NodeApp
{
    /// <summary>Builds the node's web application around an open Redis connection.</summary>
    internal static WebApplication Build(NodeOptions options, IConfiguration configuration,
        IConnectionMultiplexer redis, RedisUrl redisUrl, IReadOnlyList<CeleryBrokerConnection> brokers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddConfiguration(configuration);
        builder.WebHost.UseUrls($"http://{FormatHost(options.Metrics.Host)}:{options.Metrics.Port}");
        // One line per entry, outside text escaped (names from the wire reach the logs).
        builder.Logging.AddConsole(c => c.FormatterName = EscapingConsoleFormatter.FormatterName)
            .AddConsoleFormatter<EscapingConsoleFormatter, ConsoleFormatterOptions>(c => c.TimestampFormat = "HH:mm:ss.fff ");

        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), options.Metrics.MaxLabelValues, options.Metrics.MaxSeries,
            byBroker: CeleryMonitoring.ByBroker(options));
        builder.Services.AddSingleton(redis);
        builder.Services.AddSingleton(metrics);
        // Made now, not on first use: its families are exported before the first task arrives.
        builder.Services.AddSingleton(new AllocatorMetrics(metrics));
        builder.Services.AddSingleton(redisUrl);
        builder.Services.AddSingleton(new MessageOwnership());
        var allocator = new AllocatorSettings(new ChannelNames(options.Allocator.ChannelPrefix),
            options.Redis.MaxPayloadBytes, TimeSpan.FromSeconds(options.Allocator.AckTimeout),
            TimeSpan.FromSeconds(options.Allocator.WorkerTimeout))
        {
            MaxPending = options.Allocator.MaxPending,
            MaxQueues = options.Allocator.MaxQueues,
            MaxBufferedBytes = options.Redis.MaxBufferedBytes,
            ReplayBudgetBytes = options.Allocator.ReplayBytes,
        };
        builder.Services.AddSingleton(allocator);
        builder.Services.AddAkka(CeleryActorsHostingExtensions.ActorSystemName,
            akka => ConfigureAkka(akka, options, redis, allocator, brokers));

        var app = builder.Build();
        app.UseBearerTokens(options.Metrics.ApiToken, options.Metrics.Token);
        app.MapNodeEndpoints(metrics);
        return app;
    }

    private static void ConfigureAkka(AkkaConfigurationBuilder akka, NodeOptions options, IConnectionMultiplexer redis,
        AllocatorSettings allocator, IReadOnlyList<CeleryBrokerConnection> brokers)
    {
        SeedNodes.TryParse(options.Cluster.Seeds, out var seeds, out _);
        akka.AddCeleryActorsDefaults()
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .WithRemoting(options.Cluster.Hostname, options.Cluster.Port)
            .WithClustering(new ClusterOptions { SeedNodes = seeds.ToArray() })
            .AddMetricsRecorder(ObservationPipelineSettings.Default with
            {
                BufferSize = options.Metrics.ObservationBuffer,
            }, TimeSpan.FromSeconds(options.Metrics.LabelTtl))
            .AddMessageOwnership()
            .AddRedisSubscription(new SubscriptionSettings(
                new ChannelNames(options.Allocator.ChannelPrefix), options.Redis.MaxPayloadBytes, options.Redis.MaxBufferedBytes))
            .AddNodeHealth(TimeSpan.FromSeconds(options.Redis.ProbeInterval))
            // The allocator's journal and snapshots live in the node's Redis, on the node's connection.
            .WithRedisPersistence(redis)
            .AddAllocator(allocator)
            .AddClientGateway();
        if (brokers.Count > 0) akka.AddCeleryMonitor(brokers);
        if (seeds.Count == 0)
        {
            // No seeds: the node is its own seed. Joining its own address works with CLUSTER_PORT=0 too, where
            // the address is known only once remoting has bound.
            akka.AddStartup((system, _) =>
            {
                var cluster = Cluster.Get(system);
                cluster.Join(cluster.SelfAddress);
            });
        }
    }

    private static string FormatHost(string host) =>
        System.Net.IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{host}]"
            : host;
}
