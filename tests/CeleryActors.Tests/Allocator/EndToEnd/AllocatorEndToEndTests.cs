using System.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Allocator.EndToEnd;

/// <summary>The allocator through a real host node process and a real redis-server, over the wire format only.</summary>
public class AllocatorEndToEndTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    private Task<HostNodeProcess> StartNode(string prefix, int maxPayload = 1024 * 1024, string ack = "3", string worker = "10") =>
        HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["ALLOCATOR_CHANNEL_PREFIX"] = prefix,
            ["ALLOCATOR_ACK_TIMEOUT"] = ack,
            ["ALLOCATOR_WORKER_TIMEOUT"] = worker,
            ["MAX_PAYLOAD_BYTES"] = maxPayload.ToString(),
        });

    private static string NewPrefix() => "e" + Guid.NewGuid().ToString("N")[..8] + ":";

    private long Publish(string channel, string json) =>
        redis.Connection.GetSubscriber().Publish(RedisChannel.Literal(channel), json);

    /// <summary>Subscribes like a worker would, collecting the assignment JSON it receives.</summary>
    private ConcurrentQueue<JsonElement> Listen(string channel)
    {
        var received = new ConcurrentQueue<JsonElement>();
        redis.Connection.GetSubscriber().Subscribe(RedisChannel.Literal(channel))
            .OnMessage(m => received.Enqueue(JsonDocument.Parse((string)m.Message!).RootElement.Clone()));
        return received;
    }

    private static async Task<JsonElement> GetJson(HostNodeProcess node, string path)
    {
        using var response = await node.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>Waits until Redis counts the node's three allocator subscriptions (pub/sub drops what nobody
    /// hears): <c>workers:control</c>, <c>task-status</c> and the <c>tasks:*</c> pattern. One node runs at a time
    /// in this class, so any pattern subscription is this node's.</summary>
    private async Task WaitForAllocatorSubscriptions(string prefix)
    {
        var server = redis.Connection.GetServers()[0];
        await Eventually.Holds(async () =>
        {
            Assert.True(await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal(prefix + "workers:control")) >= 1);
            Assert.True(await server.SubscriptionSubscriberCountAsync(RedisChannel.Literal(prefix + "task-status")) >= 1);
            Assert.True(await server.SubscriptionPatternCountAsync() >= 1);
        }, Within);
    }

    private static double Rejected(MetricFamilies m, string kind, string reason) =>
        m.Value("celery_messages_rejected_total", ("channel_kind", kind), ("reason", reason));

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

    [Fact]
    public async Task Bad_input_on_every_channel_is_rejected_counted_and_the_node_goes_on()
    {
        var p = NewPrefix();
        await using var node = await StartNode(p, maxPayload: 2048);
        await WaitForAllocatorSubscriptions(p);
        var big = $$"""{"task_name":"t","task_data":"{{new string('x', 4096)}}"}""";
        var bad = new (string Channel, string Payload)[]
        {
            ("tasks:q", "{oops"), ("tasks:q", "[]"), ("tasks:q", """{"priority":1}"""), ("tasks:q", """{"task_name":"t","priority":12}"""),
            ("tasks:q", """{"task_name":"t","requires":"gpu"}"""), ("tasks:q", big),
            ("workers:control", "nope"), ("workers:control", """{"type":"dance","worker":"w"}"""),
            ("workers:control", """{"type":"register","worker":"w","queues":[],"pool_size":1}"""),
            ("workers:control", """{"type":"register","worker":"w","queues":["q"],"pool_size":"2"}"""),
            ("task-status", "7"), ("task-status", """{"task_id":"x","worker":"w","status":"exploded"}"""),
            ("task-status", """{"task_id":"x","status":"started"}"""),
        };
        foreach (var (channel, payload) in bad) Publish(p + channel, payload);
        Publish(p + "tasks:q", """{"task_name":"fine","task_id":"ok"}""");

        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            double R(string kind, string reason) => Rejected(m, kind, reason);
            Assert.Equal((1, 1, 1, 1, 1, 1), (R("tasks", "invalid_json"), R("tasks", "not_an_object"), R("tasks", "missing_field"),
                R("tasks", "out_of_range"), R("tasks", "wrong_type"), R("tasks", "too_large")));
            Assert.Equal(1, R("workers_control", "invalid_json"));
            Assert.Equal((1, 1, 1), (R("workers_control", "unknown_type"), R("workers_control", "out_of_range"), R("workers_control", "wrong_type")));
            Assert.Equal((1, 1, 1), (R("task_status", "not_an_object"), R("task_status", "out_of_range"), R("task_status", "missing_field")));
            var q = await GetJson(node, "/api/queues/q");
            Assert.Equal(1, q.GetProperty("accepted").GetInt64());
        }, Within);
        Assert.Contains("Rejected a message on " + p + "tasks:q", node.Output);
        Assert.False(node.Process.HasExited);
    }

    [Fact]
    public async Task Implausible_input_is_rejected_and_counted_and_an_integral_priority_is_taken()
    {
        var p = NewPrefix();
        await using var node = await StartNode(p);
        await WaitForAllocatorSubscriptions(p);
        var later = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 2 * 86_400).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Publish(p + "tasks:q", """{"task_name":"t","task_id":"nine","priority":9.0}""");
        Publish(p + "tasks:q", $$"""{"task_name":"t","task_id":"future","published_at":{{later}}}""");
        var badUtf8 = Encoding.UTF8.GetBytes("""{"task_name":"t","task_id":"bytes","task_data":{"s":"aXb"}}""");
        badUtf8[Array.IndexOf(badUtf8, (byte)'X')] = 0xFF;
        redis.Connection.GetSubscriber().Publish(RedisChannel.Literal(p + "tasks:q"), badUtf8);
        Publish(p + "task-status", """{"task_id":"nine","worker":"w","status":"succeeded","runtime":1e308}""");
        Publish(p + "metrics", """{"type":"task_execution","task_name":"huge","queue":"q","duration":1e308,"status":"success"}""");

        await Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            double R(string kind, string reason) => Rejected(m, kind, reason);
            Assert.Equal((1, 1), (R("tasks", "out_of_range"), R("tasks", "invalid_json")));
            Assert.Equal(1, R("task_status", "out_of_range"));
            Assert.Equal(1, R("metrics", "out_of_range"));
            var q = await GetJson(node, "/api/queues/q");
            Assert.Equal((1L, 1), (q.GetProperty("accepted").GetInt64(), q.GetProperty("pending_by_priority").GetProperty("9").GetInt32()));
        }, Within);
        var sums = (await node.ScrapeAsync()).Sum("celery_task_duration_seconds_sum");
        Assert.True(double.IsFinite(sums), "a duration sum became " + sums);
        Assert.False(node.Process.HasExited);
    }

    [Fact]
    public async Task Control_characters_in_names_from_the_wire_reach_the_log_escaped()
    {
        var p = NewPrefix();
        await using var node = await StartNode(p);
        await WaitForAllocatorSubscriptions(p);
        // A worker name that would move the cursor, colour the terminal and start a forged line.
        const string name = "w\r\u001b[31m\u2028INFO forged";
        Publish(p + "workers:control", $$"""{"type":"register","worker":{{JsonSerializer.Serialize(name)}},"queues":["q"],"pool_size":1}""");
        await Eventually.Holds(() =>
        {
            Assert.Contains("""Worker w\u000d\u001b[31m\u2028INFO forged registered""", node.Output);
            return Task.CompletedTask;
        }, Within);
        Assert.DoesNotContain("\u001b", node.Output);
        Assert.DoesNotContain("\u2028", node.Output);
        Assert.DoesNotContain("\r", node.Output.Replace("\r\n", "\n"));
    }

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
            var subscriber = redis.Connection.GetSubscriber();
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
        redis.Connection.GetSubscriber().Subscribe(RedisChannel.Literal(p + "worker:drain")).OnMessage(m =>
        {
            var assignment = JsonDocument.Parse((string)m.Message!).RootElement.Clone();
            drain.Enqueue(assignment);
            var id = assignment.GetProperty("task_id").GetString();
            var publisher = redis.Connection.GetSubscriber();
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
