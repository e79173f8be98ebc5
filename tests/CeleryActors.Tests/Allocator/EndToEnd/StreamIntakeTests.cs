using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.EndToEnd;

/// <summary>
/// The durable intake against a real node: tasks XADDed to <c>tasks:{queue}</c> streams are taken once each,
/// acknowledged and deleted once stored, and what a node had read but not stored when it was SIGKILLed is claimed
/// and taken by the node started after it.
/// </summary>
public class StreamIntakeTests(ITestOutputHelper output)
{
    private const string Worker = "stream-w";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private static Dictionary<string, string> Settings(RedisServerProcess redis, string ackTimeout = "60") => new()
    {
        ["REDIS_URL"] = redis.Url.ToString(),
        ["ALLOCATOR_ACK_TIMEOUT"] = ackTimeout,
        ["ALLOCATOR_WORKER_TIMEOUT"] = "60",
    };

    private static Task<ConcurrentQueue<(string TaskId, int Attempt, string Queue)>> StartWorker(ISubscriber redis) =>
        SimulatedWorker.StartAsync(redis, Worker);

    private static Task Register(ISubscriber redis, HostNodeProcess node, string[] queues) => Eventually.Holds(async () =>
    {
        await redis.PublishAsync(RedisChannel.Literal("workers:control"),
            $$"""{"type":"register","worker":"{{Worker}}","queues":{{JsonSerializer.Serialize(queues)}},"pool_size":200}""");
        Assert.Contains(Worker, await node.Http.GetStringAsync("/api/workers"));
    }, Within);

    private static async Task<(long Accepted, long Succeeded, long Duplicates)> Totals(HostNodeProcess node, string[] queues)
    {
        var stats = JsonDocument.Parse(await node.Http.GetStringAsync("/api/queues")).RootElement.GetProperty("queues")
            .EnumerateArray().Where(q => queues.Contains(q.GetProperty("queue").GetString())).ToList();
        return (stats.Sum(q => q.GetProperty("accepted").GetInt64()), stats.Sum(q => q.GetProperty("succeeded").GetInt64()),
            stats.Sum(q => q.GetProperty("duplicates").GetInt64()));
    }

    [Fact]
    public async Task Streamed_tasks_are_each_taken_once_and_the_streams_are_emptied_and_bad_entries_are_counted()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var node = await HostNodeProcess.StartAsync(Settings(redis));
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = client.GetDatabase();
        string[] queues = ["sa", "sb"];
        var assignments = await StartWorker(client.GetSubscriber());
        await Register(client.GetSubscriber(), node, queues);

        // 1,000 per queue; a third carry no task_id, and the entry id names them: identical payloads, two tasks.
        const int perQueue = 1_000;
        foreach (var queue in queues)
        {
            var batch = db.CreateBatch();
            var adds = Enumerable.Range(0, perQueue).Select(i => batch.StreamAddAsync("tasks:" + queue, "payload",
                i % 3 == 0 ? """{"task_name":"same"}""" : $$"""{"task_name":"streamed","task_id":"{{queue}}-{{i}}","priority":{{i % 10}}}""")).ToList();
            batch.Execute();
            await Task.WhenAll(adds);
        }
        await db.StreamAddAsync("tasks:sa", "not_payload", "{}");
        await db.StreamAddAsync("tasks:sa", "payload", "{not json");

        await Eventually.Holds(async () =>
        {
            Assert.Equal((2L * perQueue, 2L * perQueue, 0L), await Totals(node, queues));
            foreach (var queue in queues) Assert.Equal(0, await db.StreamLengthAsync("tasks:" + queue)); // acknowledged, deleted
        }, Within);
        // Entry ids are per stream, so the named-by-entry tasks of the two queues may share ids.
        Assert.Equal(2 * perQueue, assignments.Select(a => (a.Queue, a.TaskId)).Distinct().Count());
        Assert.All(assignments, a => Assert.Equal(1, a.Attempt));
        Assert.Equal(2 * ((perQueue + 2) / 3), assignments.Count(a => a.TaskId.StartsWith("s-")));
        var m = await node.ScrapeAsync();
        Assert.Equal(1, m.Value("celery_messages_rejected_total", ("channel_kind", "tasks"), ("reason", "missing_field")));
        Assert.Equal(1, m.Value("celery_messages_rejected_total", ("channel_kind", "tasks"), ("reason", "invalid_json")));
        foreach (var queue in queues)
            Assert.Equal(0, (await db.StreamPendingAsync("tasks:" + queue, "celery-actors")).PendingMessageCount);
    }

    [Fact]
    public async Task A_node_killed_while_tasks_stream_in_loses_none_and_the_next_node_takes_each_once()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = client.GetDatabase();
        string[] queues = ["k0", "k1", "k2", "k3"];
        var assignments = await StartWorker(client.GetSubscriber());

        const int total = 8_000;
        var added = 0;
        var node = await HostNodeProcess.StartAsync(Settings(redis));
        try
        {
            await Register(client.GetSubscriber(), node, queues);
            // About 2,000 tasks/s; the node dies with some read and not yet stored, or stored and not acknowledged.
            while (added < total / 2)
            {
                var batch = db.CreateBatch();
                for (var i = 0; i < 100; i++, added++)
                    _ = batch.StreamAddAsync("tasks:" + queues[added % queues.Length], "payload", $$"""{"task_name":"killed","task_id":"k-{{added}}"}""");
                batch.Execute();
                await Task.Delay(50);
            }
            node.Process.Kill(entireProcessTree: true);
            await node.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            await node.DisposeAsync();
        }
        while (added < total) // with no node at all: Redis keeps them
        {
            var batch = db.CreateBatch();
            for (var i = 0; i < 500; i++, added++)
                _ = batch.StreamAddAsync("tasks:" + queues[added % queues.Length], "payload", $$"""{"task_name":"killed","task_id":"k-{{added}}"}""");
            batch.Execute();
        }
        // And a node that read some and died before storing them: entries pending on a consumer nobody runs.
        var taken = await db.StreamReadGroupAsync("tasks:k0", "celery-actors", "ghost-node", ">", 300);
        Assert.Equal(300, taken.Length);

        // A report the worker sent while the node died is lost with it (pub/sub): the task stays held until the lease
        // returns it. The simulated worker finishes every task at once, so its heartbeat says it runs none, and a
        // shorter ack timeout brings such a task back well within the deadline below (a CI run saw 7,999 of 8,000).
        await using var second = await HostNodeProcess.StartAsync(Settings(redis, ackTimeout: "15"));
        await Eventually.Holds(async () =>
        {
            // The worker is heard from again, so the recovered worker entity gives it tasks.
            await client.GetSubscriber().PublishAsync(RedisChannel.Literal("workers:control"),
                $$"""{"type":"heartbeat","worker":"{{Worker}}","running":[]}""");
            var (accepted, succeeded, _) = await Totals(second, queues);
            Assert.Equal(((long)total, (long)total), (accepted, succeeded));
            foreach (var queue in queues) Assert.Equal(0, await db.StreamLengthAsync("tasks:" + queue));
        }, TimeSpan.FromSeconds(90));
        var firstAttempts = assignments.Where(a => a.Attempt == 1).GroupBy(a => a.TaskId).Count(g => g.Count() > 1);
        output.WriteLine($"{total} tasks, {assignments.Count} assignments, {assignments.Count(a => a.Attempt > 1)} redeliveries; " +
                         string.Join("; ", second.Output.Split('\n').Where(l => l.Contains("Claimed"))));
        Assert.Equal(0, firstAttempts);
        // The ghost's 300, once idle; the killed node's own pending entries of k0 may come in the same claim round.
        var claimedOfK0 = Regex.Matches(second.Output, @"Claimed (\d+) entries of tasks:k0 ").Sum(m => int.Parse(m.Groups[1].Value));
        Assert.InRange(claimedOfK0, 300, 300 + total / queues.Length);
        Assert.Equal(total, assignments.Select(a => a.TaskId).Distinct().Count());
    }

    [Fact]
    public async Task Redis_shut_down_and_started_again_mid_stream_loses_no_task_whose_xadd_returned()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        await using var node = await HostNodeProcess.StartAsync(Settings(redis));
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",connectRetry=20");
        var db = client.GetDatabase();
        string[] queues = ["r0", "r1"];
        var assignments = await StartWorker(client.GetSubscriber());
        await Register(client.GetSubscriber(), node, queues);

        // About 2,000 tasks/s; only those whose XADD returned an id count as published.
        var stored = new ConcurrentDictionary<string, byte>();
        var next = 0;
        async Task Produce(TimeSpan during)
        {
            var until = DateTime.UtcNow + during;
            while (DateTime.UtcNow < until)
            {
                var ids = Enumerable.Range(0, 100).Select(_ => $"r-{Interlocked.Increment(ref next)}").ToList();
                var adds = ids.Select(id => (id, db.StreamAddAsync("tasks:" + queues[id.GetHashCode() & 1], "payload",
                    $$"""{"task_name":"restarted","task_id":"{{id}}"}"""))).ToList();
                foreach (var (id, add) in adds)
                {
                    try
                    {
                        await add;
                        stored[id] = 0;
                    }
                    catch (RedisException) { } // not stored: the producer knows, and would retry
                }
                await Task.Delay(50);
            }
        }

        await Produce(TimeSpan.FromSeconds(2));
        await redis.StopAsync(); // SHUTDOWN: the append-only file is flushed
        await redis.StartAsync();
        await Produce(TimeSpan.FromSeconds(2));

        // Each stored task is in the journal and allocated. (Whether it then succeeds is the worker's part: a
        // report published while Redis was down is lost, and this worker does not list what it runs.)
        await Eventually.Holds(async () =>
        {
            await client.GetSubscriber().PublishAsync(RedisChannel.Literal("workers:control"), $$"""{"type":"heartbeat","worker":"{{Worker}}"}""");
            Assert.Equal(stored.Count, (await Totals(node, queues)).Accepted);
            Assert.Subset(assignments.Select(a => a.TaskId).ToHashSet(), stored.Keys.ToHashSet());
        }, TimeSpan.FromSeconds(90));
        output.WriteLine($"{stored.Count} tasks stored by XADD, {assignments.Count} assignments");
        Assert.Equal(0, assignments.Where(a => a.Attempt == 1).GroupBy(a => a.TaskId).Count(g => g.Count() > 1));
    }

    [Fact]
    public async Task A_full_queue_leaves_its_streamed_tasks_in_the_stream_and_takes_them_once_there_is_room()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>(Settings(redis))
        {
            ["ALLOCATOR_MAX_PENDING"] = "5",
        });
        using var client = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = client.GetDatabase();
        for (var i = 0; i < 20; i++)
            await db.StreamAddAsync("tasks:full", "payload", $$"""{"task_name":"waits","task_id":"f{{i}}"}""");

        // Five fit; the other fifteen are refused and stay in Redis, where the stream's length shows them.
        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(15, m.Value("celery_task_stream_length", ("queue", "full")));
            Assert.Equal((5L, 0L, 0L), await Totals(node, ["full"]));
        }, Within);
        Assert.Equal(15, await db.StreamLengthAsync("tasks:full"));

        // A worker makes room: the refused entries are claimed again and taken, each once.
        var assignments = await StartWorker(client.GetSubscriber());
        await Register(client.GetSubscriber(), node, ["full"]);
        await Eventually.Holds(async () =>
        {
            Assert.Equal((20L, 20L), ((await Totals(node, ["full"])).Accepted, (await Totals(node, ["full"])).Succeeded));
            Assert.Equal(0, await db.StreamLengthAsync("tasks:full"));
            Assert.Equal(0, (await node.ScrapeAsync()).Value("celery_task_stream_length", ("queue", "full")));
        }, Within);
        Assert.Equal(20, assignments.Select(a => a.TaskId).Distinct().Count());
    }
}
