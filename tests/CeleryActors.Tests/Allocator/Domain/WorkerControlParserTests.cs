using System.Text;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

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
