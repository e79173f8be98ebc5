using System.Text;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Unit.Allocator;

public class TaskMessageParserTests
{
    private static CeleryActors.Actors.Subscription.ParseResult<SubmitTask> Parse(string json, string queue = "q") =>
        TaskMessageParser.Parse("tasks:" + queue, queue, Encoding.UTF8.GetBytes(json), 100.0);

    [Fact]
    public void Parses_every_field_and_keeps_the_task_data_text()
    {
        var at = Math.Round(CeleryActors.Actors.Subscription.WireLimits.Now() - 60, 1); // a minute ago
        var r = Parse($$$"""{"task_name":"t","task_data":{"a":[1,2,{"b":null}]},"priority":9,"task_id":"id-1","requires":{"gpu":1,"os":"linux"},"published_at":{{{at.ToString(System.Globalization.CultureInfo.InvariantCulture)}}},"extra":{"x":1}}""");
        Assert.False(r.IsRejected, r.Detail);
        var t = r.Message!;
        Assert.Equal(("q", "id-1", "t", 9, at, 100.0), (t.Queue, t.TaskId, t.TaskName, t.Priority, t.PublishedAt, t.ArrivedAt));
        Assert.Equal("""{"a":[1,2,{"b":null}]}""", t.TaskData);
        Assert.Equal(CapabilityValue.Of(1), t.Requires!["gpu"]);
        Assert.Equal(CapabilityValue.Of("linux"), t.Requires!["os"]);
    }

    [Fact]
    public void Defaults_priority_data_and_derives_an_id_from_channel_and_bytes()
    {
        var a = Parse("""{"task_name":"t"}""").Message!;
        Assert.Equal((5, "null"), (a.Priority, a.TaskData));
        Assert.Null(a.Requires);
        Assert.Equal(a.TaskId, Parse("""{"task_name":"t"}""").Message!.TaskId);
        Assert.NotEqual(a.TaskId, Parse("""{"task_name":"t"}""", "other").Message!.TaskId);
        Assert.NotEqual(a.TaskId, Parse("""{"task_name":"t","n":1}""").Message!.TaskId);
        Assert.StartsWith("h-", a.TaskId);
    }

    [Theory]
    [InlineData("{not json", RejectionReason.InvalidJson)]
    [InlineData("[1,2]", RejectionReason.NotAnObject)]
    [InlineData("\"x\"", RejectionReason.NotAnObject)]
    [InlineData("{}", RejectionReason.MissingField)]
    [InlineData("""{"task_name":3}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":""}""", RejectionReason.OutOfRange)]
    [InlineData("""{"task_name":"t","priority":10}""", RejectionReason.OutOfRange)]
    [InlineData("""{"task_name":"t","priority":-1}""", RejectionReason.OutOfRange)]
    [InlineData("""{"task_name":"t","priority":"high"}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":"t","priority":1.5}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":"t","task_id":7}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":"t","requires":[1]}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":"t","requires":{"gpu":true}}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":"t","published_at":"now"}""", RejectionReason.WrongType)]
    [InlineData("""{"task_name":"t"} x""", RejectionReason.InvalidJson)]
    public void Rejects_bad_input_with_a_reason(string json, RejectionReason reason)
    {
        var r = Parse(json);
        Assert.True(r.IsRejected);
        Assert.Equal(reason, r.Reason);
        Assert.False(string.IsNullOrEmpty(r.Detail));
    }

    [Fact]
    public void Rejects_a_name_longer_than_the_limit()
    {
        var r = Parse($$"""{"task_name":"{{new string('n', 300)}}"}""");
        Assert.Equal(RejectionReason.OutOfRange, r.Reason);
    }
}

public class WorkerControlParserTests
{
    private static CeleryActors.Actors.Subscription.ParseResult<IWorkerCommand> Parse(string json) =>
        WorkerControlParser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Parses_register_heartbeat_and_unregister()
    {
        var r = (RegisterWorker)Parse("""{"type":"register","worker":"w1","queues":["a","b","a"],"capabilities":{"cpu":4,"zone":"eu"},"pool_size":3,"x":[]}""").Message!;
        Assert.Equal(("w1", 3), (r.Worker, r.PoolSize));
        Assert.Equal(["a", "b"], r.Queues);
        Assert.Equal(CapabilityValue.Of(4), r.Capabilities["cpu"]);
        Assert.Equal(CapabilityValue.Of("eu"), r.Capabilities["zone"]);
        Assert.Empty(((RegisterWorker)Parse("""{"type":"register","worker":"w","queues":["a"],"pool_size":1}""").Message!).Capabilities);
        Assert.Equal(new WorkerHeartbeat("w1"), Parse("""{"type":"heartbeat","worker":"w1"}""").Message);
        Assert.Equal(new UnregisterWorker("w1"), Parse("""{"type":"unregister","worker":"w1"}""").Message);
    }

    [Theory]
    [InlineData("nope", RejectionReason.InvalidJson)]
    [InlineData("42", RejectionReason.NotAnObject)]
    [InlineData("""{"worker":"w"}""", RejectionReason.MissingField)]
    [InlineData("""{"type":"dance","worker":"w"}""", RejectionReason.UnknownType)]
    [InlineData("""{"type":"heartbeat"}""", RejectionReason.MissingField)]
    [InlineData("""{"type":"heartbeat","worker":5}""", RejectionReason.WrongType)]
    [InlineData("""{"type":"register","worker":"w","pool_size":1}""", RejectionReason.MissingField)]
    [InlineData("""{"type":"register","worker":"w","queues":[],"pool_size":1}""", RejectionReason.OutOfRange)]
    [InlineData("""{"type":"register","worker":"w","queues":"a","pool_size":1}""", RejectionReason.WrongType)]
    [InlineData("""{"type":"register","worker":"w","queues":[1],"pool_size":1}""", RejectionReason.WrongType)]
    [InlineData("""{"type":"register","worker":"w","queues":["a"]}""", RejectionReason.MissingField)]
    [InlineData("""{"type":"register","worker":"w","queues":["a"],"pool_size":0}""", RejectionReason.OutOfRange)]
    [InlineData("""{"type":"register","worker":"w","queues":["a"],"pool_size":"4"}""", RejectionReason.WrongType)]
    [InlineData("""{"type":"register","worker":"w","queues":["a"],"pool_size":2.5}""", RejectionReason.WrongType)]
    [InlineData("""{"type":"register","worker":"w","queues":["a"],"pool_size":1,"capabilities":{"gpu":[1]}}""", RejectionReason.WrongType)]
    public void Rejects_bad_input_with_a_reason(string json, RejectionReason reason)
    {
        var r = Parse(json);
        Assert.True(r.IsRejected);
        Assert.Equal(reason, r.Reason);
    }
}

public class TaskStatusParserTests
{
    private static CeleryActors.Actors.Subscription.ParseResult<WorkerTaskStatus> Parse(string json) =>
        TaskStatusParser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Parses_each_status()
    {
        Assert.Equal(new WorkerTaskStatus("w", "t", TaskProgress.Received, null, null),
            Parse("""{"task_id":"t","worker":"w","status":"received"}""").Message);
        Assert.Equal(new WorkerTaskStatus("w", "t", TaskProgress.Started, null, null),
            Parse("""{"task_id":"t","worker":"w","status":"started","runtime":3}""").Message);
        Assert.Equal(new WorkerTaskStatus("w", "t", TaskProgress.Succeeded, 1.5, null),
            Parse("""{"task_id":"t","worker":"w","status":"succeeded","runtime":1.5}""").Message);
        Assert.Equal(new WorkerTaskStatus("w", "t", TaskProgress.Failed, 2, "KeyError"),
            Parse("""{"task_id":"t","worker":"w","status":"failed","runtime":2,"exception":"KeyError"}""").Message);
        Assert.Equal(new WorkerTaskStatus("w", "t", TaskProgress.Failed, null, "unknown"),
            Parse("""{"task_id":"t","worker":"w","status":"failed","exception":null}""").Message);
    }

    [Theory]
    [InlineData("{", RejectionReason.InvalidJson)]
    [InlineData("null", RejectionReason.NotAnObject)]
    [InlineData("""{"worker":"w","status":"started"}""", RejectionReason.MissingField)]
    [InlineData("""{"task_id":"t","status":"started"}""", RejectionReason.MissingField)]
    [InlineData("""{"task_id":"t","worker":"w"}""", RejectionReason.MissingField)]
    [InlineData("""{"task_id":"t","worker":"w","status":"done"}""", RejectionReason.OutOfRange)]
    [InlineData("""{"task_id":"t","worker":"w","status":1}""", RejectionReason.WrongType)]
    [InlineData("""{"task_id":"t","worker":"w","status":"succeeded","runtime":"1s"}""", RejectionReason.WrongType)]
    [InlineData("""{"task_id":"t","worker":"w","status":"succeeded","runtime":-1}""", RejectionReason.OutOfRange)]
    [InlineData("""{"task_id":"t","worker":"w","status":"failed","exception":5}""", RejectionReason.WrongType)]
    public void Rejects_bad_input_with_a_reason(string json, RejectionReason reason)
    {
        var r = Parse(json);
        Assert.True(r.IsRejected);
        Assert.Equal(reason, r.Reason);
    }
}
