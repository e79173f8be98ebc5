using System.Text;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class MetricsMessageParserTests
{
    private static ParseResult<IMetricsCommand> Parse(string json) => MetricsMessageParser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Parses_a_successful_task_execution()
    {
        var result = Parse("""{"type":"task_execution","task_name":"shop.ok","queue":"default","duration":0.25,"status":"success"}""");
        Assert.False(result.IsRejected);
        Assert.Equal("task_execution", result.MessageType);
        Assert.Equal(new TrackTaskExecution("shop.ok", "default", 0.25, TaskOutcome.Success), result.Message);
    }

    [Fact]
    public void Parses_a_failed_task_execution_with_its_exception_and_publish_time()
    {
        var at = Math.Round(CeleryActors.Actors.Subscription.WireLimits.Now() - 60, 1); // a minute ago
        var result = Parse($$"""{"published_at":{{at.ToString(System.Globalization.CultureInfo.InvariantCulture)}},"status":"failure","exception":"PaymentDeclined","type":"task_execution","task_name":"shop.pay","queue":"q","duration":3}""");
        Assert.Equal(new TrackTaskExecution("shop.pay", "q", 3, TaskOutcome.Failure, "PaymentDeclined"), result.Message);
        Assert.Equal(at, result.PublishedAt);
    }

    [Fact]
    public void Parses_queue_length_and_pubsub_message()
    {
        Assert.Equal(new UpdateQueueLength("default", 42), Parse("""{"type":"queue_length","queue":"default","length":42}""").Message);
        Assert.Equal(new TrackPubSubMessage("tasks:x", "task", 0.002),
            Parse("""{"type":"pubsub_message","channel":"tasks:x","message_type":"task","latency":0.002}""").Message);
    }

    [Fact]
    public void Ignores_unknown_fields_of_any_shape()
    {
        var result = Parse("""{"type":"queue_length","extra":{"deep":[1,2,{"x":null}]},"queue":"q","length":0,"v":2}""");
        Assert.Equal(new UpdateQueueLength("q", 0), result.Message);
    }

    [Fact]
    public void Unescapes_names()
    {
        var result = Parse("""{"type":"queue_length","queue":"caf\u00e9 \"q\"","length":1}""");
        Assert.Equal(new UpdateQueueLength("café \"q\"", 1), result.Message);
    }

    [Theory]
    [InlineData("not json", RejectionReason.InvalidJson)]
    [InlineData("{\"type\":\"queue_length\"", RejectionReason.InvalidJson)]
    [InlineData("{\"type\":\"queue_length\",\"queue\":\"q\",\"length\":1} trailing", RejectionReason.InvalidJson)]
    [InlineData("[1,2]", RejectionReason.NotAnObject)]
    [InlineData("\"text\"", RejectionReason.NotAnObject)]
    [InlineData("", RejectionReason.InvalidJson)]
    [InlineData("{}", RejectionReason.MissingField)]
    [InlineData("{\"type\":\"bogus\"}", RejectionReason.UnknownType)]
    [InlineData("{\"type\":7}", RejectionReason.WrongType)]
    [InlineData("{\"type\":\"task_execution\",\"queue\":\"q\",\"duration\":1,\"status\":\"success\"}", RejectionReason.MissingField)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"status\":\"success\"}", RejectionReason.MissingField)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"duration\":\"1\",\"status\":\"success\"}", RejectionReason.WrongType)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"duration\":-1,\"status\":\"success\"}", RejectionReason.OutOfRange)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"duration\":1,\"status\":\"maybe\"}", RejectionReason.OutOfRange)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"duration\":1,\"status\":\"failure\"}", RejectionReason.MissingField)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":\"\",\"queue\":\"q\",\"duration\":1,\"status\":\"success\"}", RejectionReason.OutOfRange)]
    [InlineData("{\"type\":\"task_execution\",\"task_name\":[\"t\"],\"queue\":\"q\",\"duration\":1,\"status\":\"success\"}", RejectionReason.WrongType)]
    [InlineData("{\"type\":\"queue_length\",\"queue\":\"q\",\"length\":-1}", RejectionReason.OutOfRange)]
    [InlineData("{\"type\":\"queue_length\",\"queue\":\"q\",\"length\":1.5}", RejectionReason.WrongType)]
    [InlineData("{\"type\":\"queue_length\",\"queue\":\"q\"}", RejectionReason.MissingField)]
    [InlineData("{\"type\":\"queue_length\",\"queue\":null,\"length\":1}", RejectionReason.WrongType)]
    [InlineData("{\"type\":\"pubsub_message\",\"channel\":\"c\",\"message_type\":\"m\",\"latency\":-0.1}", RejectionReason.OutOfRange)]
    [InlineData("{\"type\":\"pubsub_message\",\"channel\":\"c\",\"latency\":0.1}", RejectionReason.MissingField)]
    [InlineData("{\"type\":\"pubsub_message\",\"channel\":\"c\",\"message_type\":\"m\",\"latency\":1e400}", RejectionReason.OutOfRange)]
    [InlineData("{\"type\":\"queue_length\",\"queue\":\"q\",\"length\":1,\"published_at\":\"now\"}", RejectionReason.WrongType)]
    public void Rejects_bad_input_with_its_reason(string json, RejectionReason reason)
    {
        var result = Parse(json);
        Assert.True(result.IsRejected, "accepted: " + result.Message);
        Assert.Equal(reason, result.Reason);
        Assert.False(string.IsNullOrWhiteSpace(result.Detail));
    }

    [Fact]
    public void Rejects_invalid_utf8_inside_a_string()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"type":"queue_length","queue":"XX","length":1}""");
        var at = Array.IndexOf(bytes, (byte)'X');
        bytes[at] = 0xC3;
        bytes[at + 1] = 0x28; // an invalid two-byte sequence
        Assert.Equal(RejectionReason.InvalidJson, MetricsMessageParser.Parse(bytes).Reason);
    }

    [Fact]
    public void Rejects_names_longer_than_the_limit()
    {
        var name = new string('a', MetricsMessageParser.MaxNameLength + 1);
        var result = Parse($$"""{"type":"queue_length","queue":"{{name}}","length":1}""");
        Assert.Equal(RejectionReason.OutOfRange, result.Reason);
    }

    [Fact]
    public void Rejects_deeply_nested_unknown_fields_without_crashing()
    {
        var json = "{\"type\":\"queue_length\",\"x\":" + new string('[', 500) + new string(']', 500) + ",\"queue\":\"q\",\"length\":1}";
        Assert.Equal(RejectionReason.InvalidJson, Parse(json).Reason);
    }
}
