using CeleryActors.Client;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using Xunit;

namespace CeleryActors.Tests.Client;

/// <summary>
/// The client's node tests share one node (<see cref="ClientNodeFixture"/>) and run after the parallel part of the
/// suite, one class at a time: on two cores their node processes, run alongside, slowed the allocator's
/// kill-in-a-burst end-to-end test past its ack and worker timeouts (it then counts more re-deliveries than it
/// expects; it failed in 2 of 4 full runs with them in parallel).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClientNodesCollection : ICollectionFixture<ClientNodeFixture>
{
    public const string Name = "client nodes";
}

/// <summary>Starts host node processes the actor client can contact: a known free <c>CLUSTER_PORT</c> each.</summary>
public static class ClientNodes
{
    /// <summary>Starts a node on <paramref name="redis"/>; returns it and its contact (<c>127.0.0.1:PORT</c>).</summary>
    public static async Task<(HostNodeProcess Node, string Contact)> StartAsync(RedisFixture redis, string? seed = null)
    {
        var port = FreePort.Find();
        var environment = new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["CLUSTER_PORT"] = port.ToString(),
        };
        if (seed is not null) environment["CLUSTER_SEEDS"] = $"akka.tcp://celery-actors@{seed}";
        var node = await HostNodeProcess.StartAsync(environment);
        return (node, $"127.0.0.1:{port}");
    }

    /// <summary>A client with its own actor system.</summary>
    public static CeleryActorsClient Client(TimeSpan timeout, params string[] contacts) =>
        CeleryActorsClient.Start(new CeleryActorsClientOptions { Contacts = contacts, Timeout = timeout });
}
