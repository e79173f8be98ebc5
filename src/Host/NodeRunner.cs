using System.Runtime.InteropServices;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Health;
using CeleryActors.Host.Configuration;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Host;

/// <summary>Runs one host node: its Redis (the configured one, or a private one), then the web host and the actor
/// system until the process is asked to stop.</summary>
public static class NodeRunner
{
    /// <summary>The connections to the Celery brokers: the one of <c>CELERY_BROKER_URL</c>, each of
    /// <c>CELERY_BROKERS</c>, or none.</summary>
    private static async Task<BrokerConnections> ConnectBrokersAsync(NodeOptions options)
    {
        var connections = new BrokerConnections([]);
        try
        {
            foreach (var (name, url) in CeleryMonitoring.Brokers(options))
            {
                var multiplexer = await ConnectionMultiplexer.ConnectAsync(url.ToConfigurationOptions());
                connections.All.Add(new CeleryBrokerConnection(multiplexer, CeleryMonitoring.Settings(options, url, name)));
            }
            return connections;
        }
        catch
        {
            await connections.DisposeAsync();
            throw;
        }
    }

    /// <summary>Disposes the broker connections with the node.</summary>
    internal sealed record BrokerConnections(List<CeleryBrokerConnection> All) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var broker in All) await broker.Multiplexer.DisposeAsync();
        }
    }

    // True once Redis answers a PING; false when the node is asked to stop first.
    private static async Task<bool> WaitForRedisAsync(IConnectionMultiplexer redis, CancellationToken stopping)
    {
        try
        {
            while (true)
            {
                try
                {
                    await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(1), stopping);
                    return true;
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Runs the node with validated <paramref name="options"/>; returns the exit code.</summary>
    public static async Task<int> RunAsync(NodeOptions options, IConfiguration configuration)
    {
        RedisServerProcess? embedded = null;
        RedisUrl url;
        if (string.IsNullOrWhiteSpace(options.Redis.Url))
        {
            if (!RedisServerProcess.IsInstalled())
            {
                await Console.Error.WriteLineAsync($"celery-actors: REDIS_URL is not set and {RedisServerProcess.InstallHint}");
                return ExitCodes.MissingDependency;
            }
            var directory = Path.GetFullPath(Path.Combine(options.Redis.StateDirectory, "redis"));
            try
            {
                embedded = await RedisServerProcess.StartAsync(new RedisServerSettings(directory, AppendOnly: true));
            }
            catch (RedisDataDirectoryInUseException)
            {
                var error = new SettingError("CeleryActors:Redis:StateDirectory",
                    $"{directory} is in use by another node's private redis-server; give each node its own " +
                    "folder, or set REDIS_URL");
                await Console.Error.WriteLineAsync($"celery-actors: {error}");
                return ExitCodes.BadSetting;
            }
            if (embedded.StoppedLeftoverProcessId is { } leftover)
                Console.WriteLine($"celery-actors: shut down redis-server (pid {leftover}), left running in {directory} " +
                                  "by a node that did not stop cleanly");
            url = embedded.Url;
            Console.WriteLine($"celery-actors: REDIS_URL not set; started a private redis-server at {url} " +
                              $"(data in {directory}, append-only file on)");
        }
        else
        {
            url = RedisUrl.Parse(options.Redis.Url);
        }

        try
        {
            // AbortOnConnectFail is off: the node starts, serves /metrics and reports Redis down until it is back.
            await using var redis = await ConnectionMultiplexer.ConnectAsync(url.ToConfigurationOptions());
            // The private Redis is started with its append-only file; one run by others may not keep what we write.
            if (embedded is null)
            {
                IReadOnlyList<string> warnings;
                try
                {
                    warnings = await RedisDurability.WarningsAsync(url);
                }
                catch (RedisCredentialsRefusedException refused)
                {
                    // Unlike an unreachable Redis, which may come back, retrying a wrong password never helps.
                    await Console.Error.WriteLineAsync($"celery-actors: {new SettingError("CeleryActors:Redis:Url", refused.Message)}");
                    return ExitCodes.BadSetting;
                }
                foreach (var warning in warnings) Console.WriteLine($"celery-actors: warning (REDIS_URL): {warning}");
            }
            await using var brokers = await ConnectBrokersAsync(options);
            using var stopping = new CancellationTokenSource();
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            IReadOnlyList<string> rejoin = [];
            while (true)
            {
                var cutOff = new RedisCutOff();
                await using (var app = NodeApp.Build(options, configuration, redis, url, brokers.All, cutOff, rejoin))
                    await app.RunAsync();
                if (!cutOff.Happened || stopping.IsCancellationRequested) return ExitCodes.Ok;
                // A left actor system cannot join again: a new one is built once Redis answers, with new ports
                // bound on the same numbers, and joins the members it knew.
                Console.WriteLine("celery-actors: left the cluster, Redis being out of reach; joining again once it answers");
                if (!await WaitForRedisAsync(redis, stopping.Token)) return ExitCodes.Ok;
                Console.WriteLine("celery-actors: Redis answers again; starting the node and joining the cluster");
                rejoin = cutOff.Members;
                Environment.ExitCode = ExitCodes.Ok; // the hosting set -1 for the leave
            }

            // The web host handles the signal while it runs; between two runs, this ends the wait.
            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stopping.Cancel();
            }
        }
        finally
        {
            if (embedded is not null) await embedded.DisposeAsync();
        }
    }
}
