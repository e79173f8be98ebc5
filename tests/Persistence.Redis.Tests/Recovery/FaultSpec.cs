using Akka.Actor;
using Akka.Pattern;
using Akka.Persistence;
using Akka.TestKit;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Recovery;

/// <summary>
/// Redis goes away in the middle of writes: the writes fail (WriteMessageFailure, never a rejection), the
/// breaker opens, and once Redis is back the actor, restarted with back-off, recovers and goes on with no gap
/// or duplicate in its sequence numbers.
/// </summary>
public sealed class FaultSpec(RedisFixture redis, ITestOutputHelper output) : PluginSpec(redis, output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>Sends Append(n) until it is confirmed, as an at-least-once client would.</summary>
    private async Task AppendUntilConfirmed(IActorRef counter, TestProbe client, int n)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < deadline)
        {
            counter.Tell(new Append(n), client.Ref);
            var reply = await client.ReceiveOneAsync(TimeSpan.FromMilliseconds(500));
            if (reply is Appended a && a.N == n) return;
        }
        Assert.Fail($"Append({n}) was not confirmed within {Deadline}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_redis_outage_fails_writes_and_the_actor_recovers_without_gap_or_duplicate(bool kill)
    {
        await Redis.Server.StartAsync(); // a no-op unless an earlier test failed while Redis was down
        var outcomes = CreateTestProbe();
        Sys.EventStream.Subscribe(outcomes, typeof(PersistOutcome));
        var supervisor = Sys.ActorOf(BackoffSupervisor.Props(Backoff.OnStop(CounterActor.Props(Pid), "counter",
            TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), 0.1, -1)));
        var client = CreateTestProbe();

        for (var n = 1; n <= 20; n++) await AppendUntilConfirmed(supervisor, client, n);

        // Redis goes away while the actor is writing.
        for (var n = 21; n <= 25; n++) supervisor.Tell(new Append(n), client.Ref);
        if (kill) await Redis.Server.KillAsync();
        else await Redis.Server.StopAsync();
        // 21..25 may all have made it before the outage; 26 cannot have, so at least one of these is a write
        // during the outage.
        for (var n = 21; n <= 26; n++) supervisor.Tell(new Append(n), client.Ref);

        var outcome = await outcomes.ExpectMsgAsync<PersistOutcome>(Deadline);
        Assert.Equal("failure", outcome.Kind);

        await Redis.Server.StartAsync();
        for (var n = 21; n <= 40; n++) await AppendUntilConfirmed(supervisor, client, n);
        // No write was ever reported as rejected: a Redis error is a failure, visible to the circuit breaker.
        while (outcomes.HasMessages)
            Assert.Equal("failure", (await outcomes.ExpectMsgAsync<PersistOutcome>()).Kind);

        // What is stored: sequence numbers 1..40, payloads 1..40, nothing twice, nothing missing.
        var probe = CreateTestProbe();
        Journal.Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, Pid, probe.Ref));
        var seqs = new List<long>();
        var payloads = new List<int>();
        while (true)
        {
            var message = await probe.ReceiveOneAsync(Deadline);
            if (message is RecoverySuccess done)
            {
                Assert.Equal(40, done.HighestSequenceNr);
                break;
            }
            var replayed = Assert.IsType<ReplayedMessage>(message);
            seqs.Add(replayed.Persistent.SequenceNr);
            payloads.Add((int)replayed.Persistent.Payload);
        }
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), seqs);
        Assert.Equal(Enumerable.Range(1, 40), payloads);
    }

    [Fact]
    public async Task A_write_during_an_outage_is_a_failure_not_a_rejection_and_opens_the_breaker()
    {
        await Redis.Server.StartAsync();
        WriteFiveEvents();
        await Redis.Server.StopAsync();
        var probe = CreateTestProbe();
        // max-failures is 5 in the test config: the sixth write meets an open breaker.
        for (var i = 0; i < 6; i++)
        {
            Write(probe, Atomic(Event("x", 6)));
            var failed = await probe.ExpectMsgAsync<WriteMessagesFailed>(Deadline);
            await probe.ExpectMsgAsync<WriteMessageFailure>(Deadline);
            if (i == 5) Assert.IsType<OpenCircuitException>(failed.Cause);
        }
        await Redis.Server.StartAsync();
        // Retry until the breaker lets a call through and the connection is back; every attempt gets its two replies.
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            Write(probe, Atomic(Event("a-6", 6)));
            var first = await probe.ReceiveOneAsync(Deadline);
            var second = await probe.ReceiveOneAsync(Deadline);
            if (first is WriteMessagesSuccessful)
            {
                Assert.IsType<WriteMessageSuccess>(second);
                break;
            }
            Assert.IsType<WriteMessagesFailed>(first);
            Assert.IsType<WriteMessageFailure>(second);
            Assert.True(DateTime.UtcNow < deadline, "writes did not succeed again after Redis came back");
            await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        }
        Journal.Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, Pid, probe.Ref));
        ExpectReplay(probe, Range(1, 6), 6);
    }
}
