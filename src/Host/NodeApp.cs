using CeleryActors.Host.Logging;
using Microsoft.Extensions.Logging.Console;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Health;
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
    /// <param name="options">The validated settings.</param>
    /// <param name="configuration">The configuration they were bound from (logging reads it too).</param>
    /// <param name="redis">The node's Redis connection.</param>
    /// <param name="redisUrl">Its URL.</param>
    /// <param name="brokers">The Celery brokers to monitor, if any.</param>
    /// <param name="cutOff">Where the node notes that it left the cluster because Redis was out of reach.</param>
    /// <param name="rejoin">The other members the node knew when it last left that way, tried as seeds after the
    /// configured ones; empty on a first start.</param>
    internal static WebApplication Build(NodeOptions options, IConfiguration configuration,
        IConnectionMultiplexer redis, RedisUrl redisUrl, IReadOnlyList<CeleryBrokerConnection> brokers,
        RedisCutOff cutOff, IReadOnlyList<string> rejoin)
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
        // Made now, not on first use: their families are exported before the first task or event arrives.
        builder.Services.AddSingleton(new AllocatorMetrics(metrics));
        builder.Services.AddSingleton(new CeleryMonitorMetrics(metrics));
        builder.Services.AddSingleton(redisUrl);
        builder.Services.AddSingleton(new MessageOwnership());
        builder.Services.AddSingleton(cutOff);
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
            akka => ConfigureAkka(akka, options, redis, allocator, brokers, rejoin));

        var app = builder.Build();
        app.UseBearerTokens(options.Metrics.ApiToken, options.Metrics.Token);
        app.MapNodeEndpoints(metrics);
        return app;
    }

    private static void ConfigureAkka(AkkaConfigurationBuilder akka, NodeOptions options, IConnectionMultiplexer redis,
        AllocatorSettings allocator, IReadOnlyList<CeleryBrokerConnection> brokers, IReadOnlyList<string> rejoin)
    {
        SeedNodes.TryParse(options.Cluster.Seeds, out var configured, out _);
        // Configured seeds first; after a cut-off from Redis, the members known then, in case no seed is up.
        var seeds = configured.Concat(rejoin).Distinct().ToList();
        akka.AddCeleryActorsDefaults()
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .WithRemoting(options.Cluster.Hostname, options.Cluster.Port)
            .WithClustering(new ClusterOptions { SeedNodes = configured.Count > 0 ? seeds.ToArray() : [] })
            .AddMetricsRecorder(ObservationPipelineSettings.Default with
            {
                BufferSize = options.Metrics.ObservationBuffer,
            }, TimeSpan.FromSeconds(options.Metrics.LabelTtl))
            .AddMessageOwnership()
            .AddRedisSubscription(new SubscriptionSettings(
                new ChannelNames(options.Allocator.ChannelPrefix), options.Redis.MaxPayloadBytes, options.Redis.MaxBufferedBytes))
            .AddNodeHealth(TimeSpan.FromSeconds(options.Redis.ProbeInterval),
                options.Cluster.LeaveWithoutRedis > 0 ? TimeSpan.FromSeconds(options.Cluster.LeaveWithoutRedis) : null)
            // The allocator's journal and snapshots live in the node's Redis, on the node's connection.
            .WithRedisPersistence(redis)
            .AddAllocator(allocator)
            .AddClientGateway();
        if (brokers.Count > 0) akka.AddCeleryMonitor(brokers);
        if (configured.Count == 0)
        {
            // No seeds: the node is its own seed. Joining its own address works with CLUSTER_PORT=0 too, where
            // the address is known only once remoting has bound. Rejoining after a cut-off, it is the first seed
            // and the members it knew the others: it joins them if they run, else it starts the cluster again.
            akka.AddStartup((system, _) =>
            {
                var cluster = Cluster.Get(system);
                if (rejoin.Count == 0) cluster.Join(cluster.SelfAddress);
                else cluster.JoinSeedNodes([cluster.SelfAddress, .. rejoin.Select(Akka.Actor.Address.Parse)]);
            });
        }
    }

    private static string FormatHost(string host) =>
        System.Net.IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{host}]"
            : host;
}
