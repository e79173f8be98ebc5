using System.Globalization;
using System.Text;
using System.Text.Json;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Celery;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Subscription;
using CeleryActors.Tests.Support;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

/// <summary>
/// Input that is well-formed JSON but not a measurement (a duration of 1e308 s, a count of 1e19, a publication
/// time days away), or that used to be turned into something else (9.0 refused as a priority, bad UTF-8 in
/// task_data replaced), on every wire that takes it.
/// </summary>
public class ImplausibleInputTests
{
    private static string At(double unix) => unix.ToString("R", CultureInfo.InvariantCulture);
    private static double Now => WireLimits.Now();

    private static ParseResult<CeleryActors.Messages.Allocator.SubmitTask> Task(string json) =>
        TaskMessageParser.Parse("tasks:q", "q", Encoding.UTF8.GetBytes(json), Now);

    [Theory]
    [InlineData("""{"task_name":"t","priority":9.0}""", 9)]
    [InlineData("""{"task_name":"t","priority":0e0}""", 0)]
    [InlineData("""{"task_name":"t","priority":7.000}""", 7)]
    public void An_integral_number_is_an_integer(string json, int priority)
    {
        var r = Task(json);
        Assert.False(r.IsRejected, r.Detail);
        Assert.Equal(priority, r.Message!.Priority);
    }

    [Fact]
    public void A_queue_length_of_42_point_0_is_42()
    {
        var r = MetricsMessageParser.Parse("""{"type":"queue_length","queue":"q","length":42.0}"""u8);
        Assert.False(r.IsRejected, r.Detail);
        Assert.Equal(42, ((CeleryActors.Messages.Metrics.UpdateQueueLength)r.Message!).Length);
    }

    [Theory]
    [InlineData("""{"type":"task_execution","task_name":"t","queue":"q","duration":1e308,"status":"success"}""", "duration")]
    [InlineData("""{"type":"task_execution","task_name":"t","queue":"q","duration":2592001,"status":"success"}""", "duration")]
    [InlineData("""{"type":"pubsub_message","channel":"c","message_type":"m","latency":1e308}""", "latency")]
    [InlineData("""{"type":"queue_length","queue":"q","length":1e19}""", "length")]
    [InlineData("""{"type":"queue_length","queue":"q","length":9007199254740993}""", "length")] // 2^53 + 1, an integer
    public void An_absurd_number_on_the_metrics_channel_is_rejected(string json, string field)
    {
        var r = MetricsMessageParser.Parse(Encoding.UTF8.GetBytes(json));
        Assert.True(r.IsRejected);
        Assert.Equal(RejectionReason.OutOfRange, r.Reason);
        Assert.Contains(field, r.Detail);
    }

    [Fact]
    public void A_length_of_2_to_the_53_is_still_a_length()
    {
        var r = MetricsMessageParser.Parse("""{"type":"queue_length","queue":"q","length":9007199254740992}"""u8);
        Assert.False(r.IsRejected, r.Detail);
    }

    [Fact]
    public void A_duration_of_30_days_is_still_a_duration()
    {
        var r = MetricsMessageParser.Parse(
            """{"type":"task_execution","task_name":"t","queue":"q","duration":2592000,"status":"success"}"""u8);
        Assert.False(r.IsRejected, r.Detail);
    }

    [Fact]
    public void A_published_at_more_than_a_day_ahead_or_30_days_behind_is_rejected_on_every_wire()
    {
        foreach (var at in new[] { Now + 2 * 86_400, Now - 31 * 86_400, 1e300 })
        {
            var results = new (bool Rejected, RejectionReason Reason, string? Detail)[]
            {
                R(Task($$"""{"task_name":"t","published_at":{{At(at)}}}""")),
                R(MetricsMessageParser.Parse(Encoding.UTF8.GetBytes(
                    $$"""{"type":"queue_length","queue":"q","length":1,"published_at":{{At(at)}}}"""))),
                R(WorkerControlParser.Parse(Encoding.UTF8.GetBytes($$"""{"type":"heartbeat","worker":"w","published_at":{{At(at)}}}"""))),
                R(TaskStatusParser.Parse(Encoding.UTF8.GetBytes(
                    $$"""{"task_id":"t","worker":"w","status":"received","published_at":{{At(at)}}}"""))),
            };
            Assert.All(results, r =>
            {
                Assert.True(r.Rejected, $"published_at {at} was accepted");
                Assert.Equal(RejectionReason.OutOfRange, r.Reason);
                Assert.Contains("published_at", r.Detail);
            });
        }
        // A clock a few minutes off is not absurd.
        Assert.False(Task($$"""{"task_name":"t","published_at":{{At(Now + 300)}}}""").IsRejected);
    }

    private static (bool, RejectionReason, string?) R<T>(ParseResult<T> r) where T : class => (r.IsRejected, r.Reason, r.Detail);

    [Fact]
    public void A_runtime_of_1e308_in_a_status_report_is_rejected()
    {
        var r = TaskStatusParser.Parse("""{"task_id":"t","worker":"w","status":"succeeded","runtime":1e308}"""u8);
        Assert.True(r.IsRejected);
        Assert.Equal(RejectionReason.OutOfRange, r.Reason);
    }

    [Fact]
    public void Invalid_utf8_inside_task_data_is_rejected_not_rewritten()
    {
        var json = Encoding.UTF8.GetBytes("""{"task_name":"t","task_data":{"s":"aXb"}}""");
        json[Array.IndexOf(json, (byte)'X')] = 0xFF; // not a UTF-8 byte anywhere
        var r = TaskMessageParser.Parse("tasks:q", "q", json, Now);
        Assert.True(r.IsRejected, "bad UTF-8 was accepted as " + r.Message?.TaskData);
        Assert.Equal(RejectionReason.InvalidJson, r.Reason);
        Assert.Contains("task_data", r.Detail);
    }

    private static CeleryEventBatch Celery(string eventJson) =>
        CeleryEventParser.Parse(Encoding.UTF8.GetBytes(CeleryEnvelope.Of(JsonDocument.Parse(eventJson).RootElement, "event")));

    [Theory]
    [InlineData("""{"type":"worker-heartbeat","hostname":"w@h","timestamp":1,"active":1,"processed":1e19}""", "processed")]
    [InlineData("""{"type":"worker-heartbeat","hostname":"w@h","timestamp":1,"active":-1,"processed":1}""", "active")]
    [InlineData("""{"type":"worker-heartbeat","hostname":"w@h","timestamp":1,"active":1.5,"processed":1}""", "active")]
    [InlineData("""{"type":"task-succeeded","uuid":"u","hostname":"w@h","timestamp":1,"runtime":1e308}""", "runtime")]
    public void An_absurd_number_in_a_celery_event_is_rejected(string eventJson, string field)
    {
        var batch = Celery(eventJson);
        Assert.Empty(batch.Events);
        var (reason, detail) = Assert.Single(batch.Rejections);
        Assert.Equal(RejectionReason.OutOfRange, reason);
        Assert.Contains(field, detail);
    }

    [Theory]
    [InlineData("hostname")]
    [InlineData("name")]
    [InlineData("queue")]
    [InlineData("uuid")]
    public void A_celery_event_with_a_name_of_a_mebibyte_is_rejected(string field)
    {
        var values = new Dictionary<string, string> { ["hostname"] = "w@h", ["name"] = "t", ["queue"] = "q", ["uuid"] = "u" };
        values[field] = new string('x', 1 << 20);
        var batch = Celery($$"""
            {"type":"task-received","uuid":"{{values["uuid"]}}","hostname":"{{values["hostname"]}}","timestamp":1,"name":"{{values["name"]}}","queue":"{{values["queue"]}}"}
            """);
        Assert.Empty(batch.Events);
        var (reason, detail) = Assert.Single(batch.Rejections);
        Assert.Equal(RejectionReason.OutOfRange, reason);
        Assert.Contains(field, detail);
    }
}
