using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Xunit;

namespace CeleryActors.Persistence.Redis.Tests.Recovery;

/// <summary>
/// A persistent actor's state survives its actor system, and a restart of redis-server itself (AOF on): a clean
/// SHUTDOWN, and a SIGKILL of the process (the AOF is written before Redis replies, so a killed process loses
/// no acknowledged write; only a crash of the machine can lose up to a second with appendfsync everysec).
/// </summary>
public sealed class RecoverySpec(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private async Task<T> WithSystem<T>(Func<ActorSystem, TestProbe, Task<T>> body)
    {
        var system = ActorSystem.Create("recovery-" + Guid.NewGuid().ToString("N")[..8], TestConfig.For(redis));
        try
        {
            return await body(system, new TestProbe(system, new XunitAssertions()));
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task AppendAll(ActorSystem system, TestProbe probe, string pid, int count, int snapshotEvery)
    {
        var counter = system.ActorOf(CounterActor.Props(pid, snapshotEvery));
        for (var n = 1; n <= count; n++)
        {
            counter.Tell(new Append(n), probe.Ref);
            await probe.ExpectMsgAsync<Appended>(a => Assert.Equal(n, a.N), Deadline);
        }
    }

    private static async Task<CounterState> Recover(ActorSystem system, TestProbe probe, string pid, int snapshotEvery)
    {
        var counter = system.ActorOf(CounterActor.Props(pid, snapshotEvery));
        counter.Tell(new GetState(), probe.Ref);
        return await probe.ExpectMsgAsync<CounterState>(Deadline);
    }

    private static void AssertComplete(CounterState state, int count)
    {
        Assert.Equal(Enumerable.Range(1, count), state.Numbers);
        Assert.Equal(count, state.LastSequenceNr);
    }

    [Fact]
    public async Task State_survives_a_restart_of_the_actor_system()
    {
        var pid = "recover-system-" + Guid.NewGuid();
        await WithSystem<bool>(async (s, p) => { await AppendAll(s, p, pid, 25, snapshotEvery: 10); return true; });
        var state = await WithSystem((s, p) => Recover(s, p, pid, 10));
        AssertComplete(state, 25);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task State_survives_a_restart_of_redis_server_with_aof(bool kill)
    {
        var pid = $"recover-redis-{(kill ? "kill" : "stop")}-{Guid.NewGuid()}";
        var snapshots = new Internal.RedisKeys("akka:persistence:").SnapshotIndex(pid);
        await WithSystem<bool>(async (s, p) =>
        {
            await AppendAll(s, p, pid, 25, snapshotEvery: 10);
            // A snapshot is saved after its event is confirmed: the one at 20 may still be on its way when the 25th
            // event is. Redis goes down only once both are written, so the test asks the AOF and nothing else.
            await using var before = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
            await p.AwaitAssertAsync(async () => Assert.Equal(2, await before.GetDatabase().SortedSetLengthAsync(snapshots)),
                Deadline);
            return true;
        });
        if (kill) await redis.Server.KillAsync();
        else await redis.Server.StopAsync();
        Assert.False(redis.Server.IsRunning);
        await redis.Server.StartAsync();

        var state = await WithSystem((s, p) => Recover(s, p, pid, 10));
        AssertComplete(state, 25);
        // the snapshots at 10 and 20 came back from the AOF as well (a fresh connection: the fixture's may still
        // be reconnecting)
        await using var fresh = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.Equal(2, await fresh.GetDatabase().SortedSetLengthAsync(snapshots));
    }
}
