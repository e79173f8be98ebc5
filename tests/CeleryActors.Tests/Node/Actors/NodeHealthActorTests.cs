using Akka.Cluster;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Health;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Health;
using CeleryActors.Messages.Subscription;
using CeleryActors.Redis;
using Prometheus;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Node.Actors;

public class NodeHealthActorTests(ITestOutputHelper output) : TestKit(ClusterConfig, output: output)
{
    private const string ClusterConfig = """
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        """;

    [Fact]
    public async Task Follows_redis_going_down_and_up_and_reports_readiness()
    {
        await using var server = await RedisServerProcess.StartAsync();
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), 10);
        var changes = CreateTestProbe();
        Sys.EventStream.Subscribe(changes.Ref, typeof(RedisConnectionChanged));
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);

        var health = Sys.ActorOf(NodeHealthActor.Props(redis, metrics, TimeSpan.FromMilliseconds(200)));
        Assert.True(changes.ExpectMsg<RedisConnectionChanged>(TimeSpan.FromSeconds(10)).Connected);
        await AwaitAssertAsync(async () =>
            Assert.True((await health.Ask<NodeHealth>(GetNodeHealth.Instance, TimeSpan.FromSeconds(3))).Ready),
            TimeSpan.FromSeconds(10));
        Assert.Equal(1, metrics.RedisConnected.Value);

        await server.KillAsync();
        Assert.False(changes.ExpectMsg<RedisConnectionChanged>(TimeSpan.FromSeconds(10)).Connected);
        var down = await health.Ask<NodeHealth>(GetNodeHealth.Instance, TimeSpan.FromSeconds(3));
        Assert.False(down.Ready);
        Assert.Contains("Redis", down.Detail);
        Assert.Equal(0, metrics.RedisConnected.Value);

        await server.StartAsync();
        Assert.True(changes.ExpectMsg<RedisConnectionChanged>(TimeSpan.FromSeconds(30)).Connected);
    }
    [Fact]
    public async Task A_node_alone_stays_in_its_cluster_however_long_redis_is_gone()
    {
        await using var server = await RedisServerProcess.StartAsync();
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), 10);
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        var changes = CreateTestProbe();
        Sys.EventStream.Subscribe(changes.Ref, typeof(RedisConnectionChanged));
        var cutOff = new RedisCutOff();
        var health = Sys.ActorOf(NodeHealthActor.Props(redis, metrics, TimeSpan.FromMilliseconds(100),
            leaveAfter: TimeSpan.FromMilliseconds(300), cutOff));
        Assert.True(changes.ExpectMsg<RedisConnectionChanged>(TimeSpan.FromSeconds(10)).Connected);

        await server.KillAsync();
        Assert.False(changes.ExpectMsg<RedisConnectionChanged>(TimeSpan.FromSeconds(10)).Connected);
        // Five leave periods pass: with nobody to hand its entities to, leaving would only stop it.
        var first = await Task.WhenAny(Sys.WhenTerminated, Task.Delay(TimeSpan.FromSeconds(1.5)));
        Assert.NotSame(Sys.WhenTerminated, first);
        var down = await health.Ask<NodeHealth>(GetNodeHealth.Instance, TimeSpan.FromSeconds(3));
        Assert.Equal((false, true, false), (down.RedisConnected, down.ClusterMember, cutOff.Happened));
        Assert.Equal(MemberStatus.Up, cluster.SelfMember.Status);
    }

    [Fact]
    public async Task A_node_that_has_left_the_cluster_is_not_ready()
    {
        await using var server = await RedisServerProcess.StartAsync();
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        using var system = ActorSystem.Create("leaving", Akka.Configuration.ConfigurationFactory.ParseString(ClusterConfig +
            // Keeps the actor system up once the node is out, so the health monitor can still be asked.
            "\nakka.coordinated-shutdown { terminate-actor-system = off, run-by-actor-system-terminate = off }"));
        var cluster = Cluster.Get(system);
        cluster.Join(cluster.SelfAddress);
        var health = system.ActorOf(NodeHealthActor.Props(redis, new CeleryMetrics(Metrics.NewCustomRegistry(), 10),
            TimeSpan.FromMilliseconds(200)));
        await AwaitAssertAsync(async () =>
        {
            var up = await health.Ask<NodeHealth>(GetNodeHealth.Instance, TimeSpan.FromSeconds(3));
            Assert.Equal((true, 1, 0), (up.Ready, up.UpMembers, up.UnreachableMembers));
        }, TimeSpan.FromSeconds(10));

        cluster.Leave(cluster.SelfAddress);
        await AwaitAssertAsync(async () =>
        {
            var left = await health.Ask<NodeHealth>(GetNodeHealth.Instance, TimeSpan.FromSeconds(3));
            Assert.False(left.Ready);
            Assert.True(left.RedisConnected);
            Assert.Contains("not an Up member", left.Detail);
        }, TimeSpan.FromSeconds(15));
    }
}
