using System.Text;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

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
