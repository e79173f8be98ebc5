using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>
/// <c>redis-server</c> killed with SIGKILL and started again on its append-only file while about 10,000 tasks/s
/// are published over pub/sub and the metrics channel flows: the node is ready again within 5 s of Redis, the
/// outage shows in its metrics, and every task it had accepted before the kill is still there after it.
/// </summary>
public class RedisCrashTests(ITestOutputHelper output)
{
    private const string Worker = "crash-w", Queue = "crash";

    [Fact]
    public async Task Redis_killed_under_load_and_restarted_loses_nothing_the_node_had_accepted_and_the_node_is_back_within_5_s()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["REDIS_PROBE_INTERVAL"] = "0.2",
            ["ALLOCATOR_ACK_TIMEOUT"] = "300",
            ["ALLOCATOR_WORKER_TIMEOUT"] = "300",
        });
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",connectRetry=20");
        var subscriber = client.GetSubscriber();

        // A worker with room for everything: an assignment is published only once its task is in the journal, so
        // each one seen is a task the node had accepted for good.
        var assigned = new ConcurrentDictionary<string, byte>();
        var frozen = 0; // set at the kill: what came before it
        var beforeKill = new ConcurrentDictionary<string, byte>();
        (await subscriber.SubscribeAsync(RedisChannel.Literal("worker:" + Worker))).OnMessage(m =>
        {
            var id = JsonDocument.Parse((string)m.Message!).RootElement.GetProperty("task_id").GetString()!;
            assigned[id] = 0;
            if (Volatile.Read(ref frozen) == 0) beforeKill[id] = 0;
        });
        await Support.Eventually.Holds(async () =>
        {
            await subscriber.PublishAsync(RedisChannel.Literal("workers:control"),
                $$"""{"type":"register","worker":"{{Worker}}","queues":["{{Queue}}"],"pool_size":100000}""");
            Assert.Contains(Worker, await node.Http.GetStringAsync("/api/workers"));
        });

        // About 10,000 tasks/s and 1,000 metrics messages/s, until told to stop; what fails while Redis is down
        // is simply not published (the producer would see the error).
        using var stop = new CancellationTokenSource();
        var published = 0;
        var producer = Task.Run(async () =>
        {
            var clock = Stopwatch.StartNew();
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    for (var i = 0; i < 100; i++)
                    {
                        var n = Interlocked.Increment(ref published);
                        subscriber.Publish(RedisChannel.Literal("tasks:" + Queue), $$"""{"task_name":"crash.t","task_id":"t{{n}}"}""",
                            CommandFlags.FireAndForget);
                        if (i % 10 == 0)
                            subscriber.Publish(RedisChannel.Literal("metrics"),
                                """{"type":"task_execution","task_name":"crash.m","queue":"crash","duration":0.01,"status":"success"}""",
                                CommandFlags.FireAndForget);
                    }
                }
                catch (RedisConnectionException) { }
                var due = TimeSpan.FromMilliseconds(published / 10.0);
                if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
            }
        });

        try
        {
            await Support.Eventually.Holds(() => Check(assigned.Count >= 10_000), TimeSpan.FromSeconds(30));
            Volatile.Write(ref frozen, 1);
            await redis.KillAsync();
            var killedAt = Stopwatch.StartNew();
            await Support.Eventually.Holds(async () =>
                Assert.Equal(0, (await node.ScrapeAsync()).Value("celery_redis_connected")), TimeSpan.FromSeconds(10));
            output.WriteLine($"{beforeKill.Count:N0} tasks assigned before the kill; the node saw the outage after {killedAt.ElapsedMilliseconds} ms");

            await redis.StartAsync();
            var restartedAt = Stopwatch.StartNew();
            await node.WaitUntilReadyAsync(TimeSpan.FromSeconds(5));
            output.WriteLine($"ready again {restartedAt.ElapsedMilliseconds} ms after redis-server was back");
            // Taking tasks again: new assignments come once the entities have recovered from the journal.
            var countAtRestart = assigned.Count;
            await Support.Eventually.Holds(() => Check(assigned.Count > countAtRestart + 1_000), TimeSpan.FromSeconds(30));
            output.WriteLine($"assigning again {restartedAt.ElapsedMilliseconds} ms after redis-server was back");
        }
        finally
        {
            await stop.CancelAsync();
            await producer;
        }

        // Every task assigned before the kill is known after it: reported done, each is counted, none is unknown.
        foreach (var id in beforeKill.Keys)
            subscriber.Publish(RedisChannel.Literal("task-status"),
                $$"""{"task_id":"{{id}}","worker":"{{Worker}}","status":"succeeded","runtime":0.01}""", CommandFlags.FireAndForget);
        await Support.Eventually.Holds(async () =>
        {
            using var response = await node.Http.GetAsync("/api/queues/" + Queue);
            var stats = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(beforeKill.Count, stats.GetProperty("succeeded").GetInt64());
        }, TimeSpan.FromSeconds(60));
        var m = await node.ScrapeAsync();
        Assert.Equal(0, m.Value("celery_task_reports_ignored_total", ("reason", "unknown_task")));
        Assert.True(m.Value("celery_redis_resubscriptions_total") >= 1); // the outage is visible
        Assert.True(m.Sum("celery_task_succeeded_total", ("task_name", "crash.m")) > 0);
    }

    private static Task Check(bool condition)
    {
        Assert.True(condition);
        return Task.CompletedTask;
    }
}
