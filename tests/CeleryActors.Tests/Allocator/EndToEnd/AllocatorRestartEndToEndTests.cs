using System.Collections.Concurrent;
using System.Text.Json;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Allocator.EndToEnd;

/// <summary>A host node process killed and started again on the same real redis-server: what it accepted survives, and workers are judged by what they say after the restart.</summary>
[Collection(AllocatorEndToEndTestBase.Collection)]
public class AllocatorRestartEndToEndTests(RedisFixture redis) : AllocatorEndToEndTestBase(redis), IClassFixture<RedisFixture>
{
    [Fact]
    public async Task A_node_killed_in_the_middle_of_a_burst_comes_back_with_its_queue_and_loses_nothing_it_accepted()
    {
        var p = NewPrefix();
        string Task(int i) => $$"""{"task_name":"burst","task_id":"b{{i}}","priority":{{i % 10}}}""";
        var early = Listen(p + "worker:early");
        var node = await StartNode(p, worker: "4");
        try
        {
            await WaitForAllocatorSubscriptions(p);
            // A worker takes the first 300: an assignment goes out only once its events are in the journal, so
            // seeing all 300 proves they were accepted for good (the statistics alone are ahead of the journal).
            Publish(p + "workers:control", """{"type":"register","worker":"early","queues":["burst"],"pool_size":300}""");
            await Eventually.Holds(async () =>
                Assert.Equal(1, (await GetJson(node, "/api/workers")).GetProperty("workers").GetArrayLength()), Within);
            for (var i = 0; i < 300; i++) Publish(p + "tasks:burst", Task(i));
            await Eventually.Holds(() =>
            {
                // Distinct ids: unacknowledged, they may already be coming again (attempt 2).
                Assert.Equal(300, early.Select(a => a.GetProperty("task_id").GetString()).Distinct().Count());
                return System.Threading.Tasks.Task.CompletedTask;
            }, Within);

            // The burst goes on while the node dies: no clean shutdown, no flush.
            var subscriber = Redis.Connection.GetSubscriber();
            for (var i = 300; i < 3_000; i++)
            {
                subscriber.Publish(RedisChannel.Literal(p + "tasks:burst"), Task(i), CommandFlags.FireAndForget);
                if (i == 1_500) node.Process.Kill(entireProcessTree: true);
            }
            await node.Process.WaitForExitAsync();
        }
        finally
        {
            await node.DisposeAsync();
        }

        await using var second = await StartNode(p, worker: "4");
        JsonElement recovered = default;
        await Eventually.Holds(async () => recovered = await GetJson(second, "/api/queues/burst"), Within);
        var accepted = recovered.GetProperty("accepted").GetInt64();
        Assert.InRange(accepted, 300, 3_000);
        Assert.True(recovered.GetProperty("allocated").GetInt64() >= 300);
        Assert.Equal(accepted, recovered.GetProperty("pending").GetInt32() + recovered.GetProperty("in_flight").GetInt32());

        // The producer publishes the whole burst again: what the node had is a duplicate, the rest is new.
        await WaitForAllocatorSubscriptions(p);
        for (var i = 0; i < 3_000; i++) Publish(p + "tasks:burst", Task(i));
        await Eventually.Holds(async () =>
        {
            var q = await GetJson(second, "/api/queues/burst");
            Assert.Equal(3_000, q.GetProperty("accepted").GetInt64());
            Assert.Equal(accepted, q.GetProperty("duplicates").GetInt64());
        }, Within);

        // A worker drains it, acknowledging and finishing each task at once. The early worker never acknowledged,
        // so its 300 come again (attempt 2 or more); every task reaches the new worker once and succeeds once.
        var drain = new ConcurrentQueue<JsonElement>();
        var statusChannel = RedisChannel.Literal(p + "task-status");
        Redis.Connection.GetSubscriber().Subscribe(RedisChannel.Literal(p + "worker:drain")).OnMessage(m =>
        {
            var assignment = JsonDocument.Parse((string)m.Message!).RootElement.Clone();
            drain.Enqueue(assignment);
            var id = assignment.GetProperty("task_id").GetString();
            var publisher = Redis.Connection.GetSubscriber();
            publisher.Publish(statusChannel, $$"""{"task_id":"{{id}}","worker":"drain","status":"received"}""", CommandFlags.FireAndForget);
            publisher.Publish(statusChannel, $$"""{"task_id":"{{id}}","worker":"drain","status":"succeeded","runtime":0.01}""", CommandFlags.FireAndForget);
        });
        Publish(p + "workers:control", """{"type":"register","worker":"drain","queues":["burst"],"pool_size":3000}""");
        await Eventually.Holds(async () =>
        {
            var q = await GetJson(second, "/api/queues/burst");
            Assert.Equal((3_000L, 0, 0), (q.GetProperty("succeeded").GetInt64(), q.GetProperty("pending").GetInt32(),
                q.GetProperty("in_flight").GetInt32()));
        }, TimeSpan.FromSeconds(30)); // the dead early worker, recovered online, may take its 300 back until its
                                      // 4 s worker timeout; each time its ack timeout (3 s) returns them

        Assert.Equal(3_000, drain.Count);
        Assert.Equal(3_000, drain.Select(a => a.GetProperty("task_id").GetString()).Distinct().Count());
        // The early worker's 300 come again; on a busy machine the recovered early worker may also have taken
        // some new tasks before its timeout, which come again too: at least 300, and all of the early ones.
        var earlyIds = early.Select(a => a.GetProperty("task_id").GetString()).ToHashSet();
        Assert.All(drain.Where(a => earlyIds.Contains(a.GetProperty("task_id").GetString())),
            a => Assert.True(a.GetProperty("attempt").GetInt32() >= 2));
        Assert.InRange(drain.Count(a => a.GetProperty("attempt").GetInt32() >= 2), 300, 3_000);
    }

    [Fact]
    public async Task A_worker_that_never_speaks_after_a_restart_gives_its_task_back_though_nothing_is_sent_to_it()
    {
        var p = NewPrefix();
        var silent = Listen(p + "worker:silent");
        var next = Listen(p + "worker:next");
        // Online until the kill, whatever the test's pace: only the restarted node may take it offline.
        var node = await StartNode(p, ack: "30", worker: "30");
        try
        {
            await WaitForAllocatorSubscriptions(p);
            Publish(p + "workers:control", """{"type":"register","worker":"silent","queues":["held"],"pool_size":1}""");
            Publish(p + "tasks:held", """{"task_name":"job","task_id":"h1"}""");
            await Eventually.Holds(() =>
            {
                Assert.True(silent.Count == 1, node.Describe(200));
                return Task.CompletedTask;
            }, Within);
            // Acknowledged, so no ack timeout can return it: only the worker's silence can.
            Publish(p + "task-status", """{"task_id":"h1","worker":"silent","status":"received"}""");
            await Eventually.Holds(async () =>
                Assert.Contains("acknowledged", (await GetJson(node, "/api/queues/held/history?limit=5")).ToString()), Within);
            node.Process.Kill(entireProcessTree: true);
            await node.Process.WaitForExitAsync();
        }
        finally
        {
            await node.DisposeAsync();
        }

        // The restarted node is told nothing about "silent": its entity must be started by the node itself (remember
        // entities) to time the worker out and give the task back. No query names it before that.
        await using var second = await StartNode(p, worker: "3");
        await WaitForAllocatorSubscriptions(p);
        Publish(p + "workers:control", """{"type":"register","worker":"next","queues":["held"],"pool_size":1}""");
        // "next" speaks while it waits, so its own silence does not take it offline first.
        await Eventually.Holds(() =>
        {
            Publish(p + "workers:control", """{"type":"heartbeat","worker":"next"}""");
            Assert.True(next.Count == 1, second.Describe(100));
            return Task.CompletedTask;
        }, Within);
        var taken = next.Single();
        Assert.Equal(("h1", 2), (taken.GetProperty("task_id").GetString(), taken.GetProperty("attempt").GetInt32()));
    }

    [Fact]
    public async Task A_worker_offline_before_the_node_was_killed_stays_offline_after_the_restart_and_gets_nothing()
    {
        var p = NewPrefix();
        var gone = Listen(p + "worker:gone");
        var alive = Listen(p + "worker:alive");
        var node = await StartNode(p, worker: "2");
        try
        {
            await WaitForAllocatorSubscriptions(p);
            Publish(p + "workers:control", """{"type":"register","worker":"gone","queues":["jobs"],"pool_size":5}""");
            await Eventually.Holds(async () =>
            {
                var w = (await GetJson(node, "/api/workers")).GetProperty("workers").EnumerateArray().Single();
                Assert.False(w.GetProperty("online").GetBoolean()); // silent past its 2 s timeout
            }, Within);
            node.Process.Kill(entireProcessTree: true);
            await node.Process.WaitForExitAsync();
        }
        finally
        {
            await node.DisposeAsync();
        }

        // With a long timeout now: a worker brought back online by the restart would stay online, and take tasks.
        await using var second = await StartNode(p, worker: "60");
        await WaitForAllocatorSubscriptions(p);
        await Eventually.Holds(async () =>
        {
            var w = (await GetJson(second, "/api/workers")).GetProperty("workers").EnumerateArray().Single();
            Assert.Equal(("gone", false), (w.GetProperty("worker").GetString(), w.GetProperty("online").GetBoolean()));
        }, Within);
        Publish(p + "tasks:jobs", """{"task_name":"job","task_id":"j1"}""");
        await Eventually.Holds(async () =>
            Assert.Equal(1, (await GetJson(second, "/api/queues/jobs")).GetProperty("pending").GetInt32()), Within);
        Publish(p + "workers:control", """{"type":"register","worker":"alive","queues":["jobs"],"pool_size":5}""");
        await Eventually.Holds(() =>
        {
            Assert.Single(alive);
            return Task.CompletedTask;
        }, Within);
        Assert.Empty(gone);
        var queue = await GetJson(second, "/api/queues/jobs");
        Assert.Equal(1, queue.GetProperty("consumers").GetInt32());
    }
}
