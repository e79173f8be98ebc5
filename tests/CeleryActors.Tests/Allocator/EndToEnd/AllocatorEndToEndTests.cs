using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using Xunit;

namespace CeleryActors.Tests.Allocator.EndToEnd;

/// <summary>The allocator through a real host node process and a real redis-server, over the wire format only: allocation, acknowledgement, finishing and requeues.</summary>
[Collection(AllocatorEndToEndTestBase.Collection)]
public class AllocatorEndToEndTests(RedisFixture redis) : AllocatorEndToEndTestBase(redis), IClassFixture<RedisFixture>
{
    [Fact]
    public async Task A_registered_worker_gets_tasks_in_priority_order_acknowledges_and_finishes_them()
    {
        var p = NewPrefix();
        await using var node = await StartNode(p);
        await WaitForAllocatorSubscriptions(p);
        var inbox = Listen(p + "worker:w1");

        // Tasks first: they wait, pending, until a worker registers.
        Publish(p + "tasks:images", """{"task_name":"resize","task_id":"low","priority":1,"task_data":{"size":1}}""");
        Publish(p + "tasks:images", """{"task_name":"resize","task_id":"urgent-1","priority":9}""");
        Publish(p + "tasks:images", """{"task_name":"resize","task_id":"mid","task_data":[1,2]}""");
        Publish(p + "tasks:images", """{"task_name":"resize","task_id":"urgent-2","priority":9}""");
        Publish(p + "tasks:images", """{"task_name":"resize","task_id":"mid","task_data":[1,2]}"""); // producer retry
        await Eventually.Holds(async () =>
        {
            var q = await GetJson(node, "/api/queues/images");
            Assert.Equal(4, q.GetProperty("pending").GetInt32());
            Assert.Equal(2, q.GetProperty("pending_by_priority").GetProperty("9").GetInt32());
            Assert.Equal(1, q.GetProperty("duplicates").GetInt32());
        }, Within);

        Publish(p + "workers:control", """{"type":"register","worker":"w1","queues":["images"],"capabilities":{"cpu":4},"pool_size":1}""");
        var order = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            JsonElement assignment = default;
            await Eventually.Holds(() =>
            {
                Assert.True(inbox.TryDequeue(out assignment));
                return Task.CompletedTask;
            }, Within);
            Assert.Equal("assignment", assignment.GetProperty("type").GetString());
            Assert.Equal(("resize", "images", 1), (assignment.GetProperty("task_name").GetString(),
                assignment.GetProperty("queue").GetString(), assignment.GetProperty("attempt").GetInt32()));
            var id = assignment.GetProperty("task_id").GetString()!;
            order.Add(id);
            if (id == "low") Assert.Equal(1, assignment.GetProperty("task_data").GetProperty("size").GetInt32());
            foreach (var status in new[] { "received", "started" })
                Publish(p + "task-status", $$"""{"task_id":"{{id}}","worker":"w1","status":"{{status}}"}""");
            Publish(p + "task-status", id == "mid"
                ? $$"""{"task_id":"{{id}}","worker":"w1","status":"failed","runtime":0.2,"exception":"ValueError"}"""
                : $$"""{"task_id":"{{id}}","worker":"w1","status":"succeeded","runtime":0.1}""");
        }
        Assert.Equal(["urgent-1", "urgent-2", "mid", "low"], order);

        await Eventually.Holds(async () =>
        {
            var q = await GetJson(node, "/api/queues/images");
            Assert.Equal((0, 0, 3L, 1L, 4L, 1), (q.GetProperty("pending").GetInt32(), q.GetProperty("in_flight").GetInt32(),
                q.GetProperty("succeeded").GetInt64(), q.GetProperty("failed").GetInt64(), q.GetProperty("allocated").GetInt64(),
                q.GetProperty("consumers").GetInt32()));
        }, Within);
        var workers = (await GetJson(node, "/api/workers")).GetProperty("workers");
        var w1 = Assert.Single(workers.EnumerateArray());
        Assert.Equal(("w1", 1, 0, true, 4.0), (w1.GetProperty("worker").GetString(), w1.GetProperty("pool_size").GetInt32(),
            w1.GetProperty("unfinished_tasks").GetInt32(), w1.GetProperty("online").GetBoolean(),
            w1.GetProperty("capabilities").GetProperty("cpu").GetDouble()));
        var history = (await GetJson(node, "/api/queues/images/history?limit=3")).GetProperty("events");
        Assert.Equal(["succeeded", "started", "acknowledged"],
            history.EnumerateArray().Select(e => e.GetProperty("event").GetString()));
        Assert.All(history.EnumerateArray(), e => Assert.Equal("low", e.GetProperty("task_id").GetString()));
        Assert.Equal(3, history.GetArrayLength());
        Assert.Equal("images", Assert.Single((await GetJson(node, "/api/queues")).GetProperty("queues").EnumerateArray())
            .GetProperty("queue").GetString());
        using (var missing = await node.Http.GetAsync("/api/queues/nope")) Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // Gauges follow within a sweep (under a second); counters at once.
        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(4, m.Value("celery_task_allocation_total", ("queue", "images"), ("worker", "w1")));
            Assert.Equal(4, m.Value("celery_task_allocation_duration_seconds_count", ("queue", "images")));
            Assert.Equal(4, m.Value("celery_task_started_total", ("task_name", "resize"), ("queue", "images")));
            Assert.Equal(3, m.Value("celery_task_succeeded_total", ("task_name", "resize"), ("queue", "images")));
            Assert.Equal(1, m.Value("celery_task_failed_total", ("task_name", "resize"), ("queue", "images"), ("exception", "ValueError")));
            Assert.Equal(4, m.Value("celery_task_duration_seconds_count", ("task_name", "resize"), ("queue", "images")));
            Assert.Equal(1, m.Value("celery_task_duplicates_total", ("queue", "images")));
            Assert.Equal(0, m.Value("celery_queue_length", ("queue", "images"), ("source", "allocator")));
            Assert.Equal(1, m.Value("celery_queue_consumers", ("queue", "images"), ("source", "allocator")));
            Assert.Equal(1, m.Value("celery_worker_up", ("worker", "w1"), ("source", "allocator")));
            Assert.Equal(1, m.Value("celery_worker_pool_size", ("worker", "w1"), ("source", "allocator")));
            Assert.Equal(0, m.Value("celery_worker_active_tasks", ("worker", "w1")));
        }, Within);
    }

    [Fact]
    public async Task Unacknowledged_assignments_come_again_and_a_silent_workers_tasks_go_to_another()
    {
        var p = NewPrefix();
        // Short timeouts keep the test quick; not so short that a busy two-core machine trips them by accident.
        await using var node = await StartNode(p, ack: "2", worker: "4");
        await WaitForAllocatorSubscriptions(p);
        var first = Listen(p + "worker:first");
        var second = Listen(p + "worker:second");
        Publish(p + "workers:control", """{"type":"register","worker":"first","queues":["jobs"],"pool_size":2}""");
        await Eventually.Holds(async () =>
            Assert.Equal(1, (await GetJson(node, "/api/queues")).GetProperty("queues").EnumerateArray().Single().GetProperty("consumers").GetInt32()), Within);
        Publish(p + "tasks:jobs", """{"task_name":"report","task_id":"r1"}""");

        // Never acknowledged: the same id comes again with attempt 2 (the worker stays online meanwhile).
        await Eventually.Holds(() =>
        {
            Publish(p + "workers:control", """{"type":"heartbeat","worker":"first"}""");
            Assert.Equal([1, 2], first.Where(a => a.GetProperty("task_id").GetString() == "r1").Select(a => a.GetProperty("attempt").GetInt32()).Take(2));
            return Task.CompletedTask;
        }, Within);
        Publish(p + "task-status", """{"task_id":"r1","worker":"first","status":"received"}""");

        // Now the first worker goes silent while the second one talks: r1 moves to the second, attempt 3.
        Publish(p + "workers:control", """{"type":"register","worker":"second","queues":["jobs"],"pool_size":2}""");
        await Eventually.Holds(() =>
        {
            Publish(p + "workers:control", """{"type":"heartbeat","worker":"second"}""");
            var moved = second.SingleOrDefault(a => a.GetProperty("task_id").GetString() == "r1");
            Assert.Equal(JsonValueKind.Object, moved.ValueKind);
            Assert.True(moved.GetProperty("attempt").GetInt32() >= 3);
            return Task.CompletedTask;
        }, Within);
        Publish(p + "task-status", """{"task_id":"r1","worker":"second","status":"received"}""");
        Publish(p + "task-status", """{"task_id":"r1","worker":"second","status":"succeeded","runtime":0.3}""");
        // The first worker comes back and claims it too: it completes once.
        Publish(p + "task-status", """{"task_id":"r1","worker":"first","status":"succeeded","runtime":0.3}""");

        await Eventually.Holds(async () =>
        {
            var q = await GetJson(node, "/api/queues/jobs");
            Assert.Equal((1L, 1L, 0L, 0, 0), (q.GetProperty("accepted").GetInt64(), q.GetProperty("succeeded").GetInt64(),
                q.GetProperty("failed").GetInt64(), q.GetProperty("pending").GetInt32(), q.GetProperty("in_flight").GetInt32()));
            Assert.True(q.GetProperty("requeued").GetInt64() >= 2);
            var m = await node.ScrapeAsync();
            Assert.True(m.Value("celery_task_requeued_total", ("queue", "jobs")) >= 2);
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "report"), ("queue", "jobs")));
        }, Within);
    }
}
