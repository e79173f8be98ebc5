using System.Text;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

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
