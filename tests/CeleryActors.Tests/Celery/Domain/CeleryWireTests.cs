using System.Text;
using System.Text.Json;
using CeleryActors.Actors.Celery;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Celery.Domain;

/// <summary>The decoders, checked against captures from a real Celery 5.2 worker on Redis.</summary>
public class CeleryWireTests
{
    private static string Data(string file) => Path.Combine(AppContext.BaseDirectory, "celery-wire", file);

    private static IEnumerable<(string Channel, string Payload)> Capture() =>
        File.ReadLines(Data("pubsub-capture.tsv")).Select(l => l.Split('\t', 2)).Select(p => (p[0], p[1]));

    [Fact]
    public void Every_captured_event_message_decodes_without_a_rejection()
    {
        var events = new List<ICeleryEvent>();
        foreach (var (channel, payload) in Capture().Where(c => c.Channel.Contains(".celeryev/")))
        {
            var batch = CeleryEventParser.Parse(Encoding.UTF8.GetBytes(payload));
            Assert.Empty(batch.Rejections);
            Assert.NotEmpty(batch.Events);
            events.AddRange(batch.Events);
        }
        var tasks = events.OfType<CeleryTaskEvent>().ToList();
        Assert.Equal(14, tasks.Count(e => e.Type == CeleryTaskEventType.Sent));
        Assert.All(tasks.Where(e => e.Type == CeleryTaskEventType.Sent), e => Assert.NotNull(e.Queue));
        Assert.All(tasks.Where(e => e.Type == CeleryTaskEventType.Received), e => Assert.NotNull(e.Name));
        Assert.Equal(tasks.Count(e => e.Type == CeleryTaskEventType.Started),
            tasks.Count(e => e.Type is CeleryTaskEventType.Succeeded or CeleryTaskEventType.Failed or CeleryTaskEventType.Retried));
        Assert.Contains(tasks, e => e is { Type: CeleryTaskEventType.Failed, Exception: "PaymentDeclined" });
        Assert.All(tasks.Where(e => e.Type == CeleryTaskEventType.Succeeded), e => Assert.True(e.Runtime > 0));
        var workers = events.OfType<CeleryWorkerEvent>().ToList();
        Assert.Equal(["w1@host1", "w2@host1"], workers.Select(w => w.Hostname).Distinct().Order());
        Assert.Contains(workers, w => w.Type == CeleryWorkerEventType.Offline);
        Assert.All(workers.Where(w => w.Type == CeleryWorkerEventType.Heartbeat), w => Assert.NotNull(w.Processed));
    }

    [Fact]
    public void A_task_multi_message_carries_a_list_of_events()
    {
        var (_, payload) = Capture().First(c => c.Channel.EndsWith("task.multi"));
        var envelope = JsonDocument.Parse(payload).RootElement;
        var body = Encoding.UTF8.GetString(Convert.FromBase64String(envelope.GetProperty("body").GetString()!));
        Assert.StartsWith("[", body);
        Assert.Equal(JsonDocument.Parse(body).RootElement.GetArrayLength(), CeleryEventParser.Parse(Encoding.UTF8.GetBytes(payload)).Events.Count);
    }

    [Theory]
    [InlineData("PaymentDeclined('card 4242')", "PaymentDeclined")]
    [InlineData("KeyError('missing')", "KeyError")]
    [InlineData("app.errors.Timeout()", "Timeout")]
    [InlineData("ValueError", "ValueError")]
    [InlineData("", "unknown")]
    [InlineData(null, "unknown")]
    [InlineData("something odd happened", "unknown")]
    public void The_exception_type_is_read_out_of_the_repr(string? repr, string type) =>
        Assert.Equal(type, CeleryEventParser.ExceptionType(repr));

    [Theory]
    [InlineData("not json", RejectionReason.InvalidJson)]
    [InlineData("[]", RejectionReason.NotAnObject)]
    [InlineData("{\"content-type\":\"application/json\"}", RejectionReason.MissingField)]
    [InlineData("{\"body\":\"!!!notbase64\",\"properties\":{\"body_encoding\":\"base64\"}}", RejectionReason.InvalidJson)]
    [InlineData("{\"body\":\"{\\\"type\\\":\\\"task-started\\\",\\\"hostname\\\":\\\"w@h\\\"}\"}", RejectionReason.MissingField)]
    [InlineData("{\"body\":\"{\\\"type\\\":\\\"task-succeeded\\\",\\\"uuid\\\":\\\"u\\\",\\\"hostname\\\":\\\"w@h\\\",\\\"runtime\\\":\\\"fast\\\"}\"}", RejectionReason.WrongType)]
    [InlineData("{\"body\":\"{\\\"type\\\":\\\"task-succeeded\\\",\\\"uuid\\\":\\\"u\\\",\\\"hostname\\\":\\\"w@h\\\",\\\"runtime\\\":-1}\"}", RejectionReason.OutOfRange)]
    [InlineData("{\"body\":\"42\"}", RejectionReason.NotAnObject)]
    public void Malformed_event_messages_are_rejected_with_a_reason(string payload, RejectionReason reason)
    {
        var batch = CeleryEventParser.Parse(Encoding.UTF8.GetBytes(payload));
        Assert.Empty(batch.Events);
        Assert.Equal(reason, Assert.Single(batch.Rejections).Reason);
    }

    [Fact]
    public void A_bad_event_in_a_list_is_rejected_alone()
    {
        var body = """[{"type":"task-started","uuid":"a","hostname":"w@h","timestamp":1},{"type":"task-started","hostname":"w@h"},{"type":"worker-custom","hostname":"w@h"}]""";
        var payload = JsonSerializer.Serialize(new { body });
        var batch = CeleryEventParser.Parse(Encoding.UTF8.GetBytes(payload));
        Assert.Equal("a", ((CeleryTaskEvent)Assert.Single(batch.Events)).TaskId);
        Assert.Equal(RejectionReason.MissingField, Assert.Single(batch.Rejections).Reason);
    }

    private static byte[] ReplyEnvelope(string file, string ticket)
    {
        var capture = JsonDocument.Parse(File.ReadAllText(Data(file))).RootElement;
        var body = Convert.ToBase64String(Encoding.UTF8.GetBytes(capture.GetProperty("decoded_body").GetRawText()));
        return JsonSerializer.SerializeToUtf8Bytes(new
        {
            body,
            headers = new { ticket },
            properties = new { body_encoding = "base64" },
        });
    }

    [Fact]
    public void Remote_control_replies_give_pool_size_active_tasks_and_queues()
    {
        var stats = new Dictionary<string, JsonElement>();
        var active = new Dictionary<string, JsonElement>();
        var queues = new Dictionary<string, JsonElement>();
        var byTicket = new Dictionary<string, Dictionary<string, JsonElement>>
        {
            ["t-stats"] = stats, ["t-active"] = active, ["t-queues"] = queues,
        };
        CeleryRemoteControl.Collect(ReplyEnvelope("reply-stats-w1.json", "t-stats"), byTicket);
        CeleryRemoteControl.Collect(ReplyEnvelope("reply-stats-w2.json", "t-stats"), byTicket);
        CeleryRemoteControl.Collect(ReplyEnvelope("reply-active-w1.json", "t-active"), byTicket);
        CeleryRemoteControl.Collect(ReplyEnvelope("reply-active_queues-w1.json", "t-queues"), byTicket);
        CeleryRemoteControl.Collect(ReplyEnvelope("reply-active_queues-w2.json", "other-ticket"), byTicket); // not ours

        var w1 = CeleryInspection.Read("w1@host1", stats, active, new Dictionary<string, JsonElement>(), queues);
        Assert.Equal(3, w1.PoolSize);
        Assert.Equal(1, w1.Active);
        Assert.Null(w1.Reserved); // never answered
        Assert.Equal(["default", "data_processing"], w1.Queues!.Order().Reverse());
        Assert.Equal("default", w1.TaskQueues["ea7a4dce-a6ba-40e9-99ff-7114b3482b8b"]);
        var w2 = CeleryInspection.Read("w2@host1", stats, active, new Dictionary<string, JsonElement>(), queues);
        Assert.Equal(2, w2.PoolSize);
        Assert.Null(w2.Queues);
    }

    [Fact]
    public void A_remote_control_request_is_an_envelope_workers_accept()
    {
        var settings = CeleryMonitorSettings.For(CeleryActors.Redis.RedisUrl.Parse("redis://127.0.0.1:1/0"));
        var request = JsonDocument.Parse(new CeleryRemoteControl(null!, settings).Request("stats", "ticket-1", "reply-1")).RootElement;
        Assert.Equal("base64", request.GetProperty("properties").GetProperty("body_encoding").GetString());
        Assert.Equal("celery.pidbox", request.GetProperty("properties").GetProperty("delivery_info").GetProperty("exchange").GetString());
        var body = JsonDocument.Parse(Convert.FromBase64String(request.GetProperty("body").GetString()!)).RootElement;
        Assert.Equal("stats", body.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("destination").ValueKind);
        Assert.Equal("reply-1", body.GetProperty("reply_to").GetProperty("routing_key").GetString());
        Assert.Equal("/0.celery.pidbox", settings.PidboxChannel);
    }
}
