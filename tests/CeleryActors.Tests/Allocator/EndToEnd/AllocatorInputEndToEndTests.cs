using System.Text;
using System.Net;
using System.Text.Json;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Allocator.EndToEnd;

/// <summary>Bad and implausible input on every allocator channel, through a real host node process and a real redis-server: rejected, counted and logged safely, and the node goes on.</summary>
[Collection(AllocatorEndToEndTestBase.Collection)]
public class AllocatorInputEndToEndTests(RedisFixture redis) : AllocatorEndToEndTestBase(redis), IClassFixture<RedisFixture>
{
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
        Redis.Connection.GetSubscriber().Publish(RedisChannel.Literal(p + "tasks:q"), badUtf8);
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
}
