using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using CeleryActors.Tests.Fixtures;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Node.Actors;

public class RedisSubscriptionActorTests(RedisFixture redis, ITestOutputHelper output)
    : TestKit(output: output), IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private (IActorRef Subscription, Akka.TestKit.TestProbe Recorder, ConnectionMultiplexer Node) Start(
        string prefix, int maxPayload = 1024 * 1024)
    {
        var node = ConnectionMultiplexer.Connect(redis.Server.ConnectionString);
        var recorder = CreateTestProbe();
        var subscription = Sys.ActorOf(RedisSubscriptionActor.Props(node,
            new SubscriptionSettings(new ChannelNames(prefix), maxPayload), recorder.Ref));
        // Wait until Redis counts the subscriber, so nothing published below is missed.
        AwaitAssert(() => Assert.Equal(1, redis.Connection.GetServers()[0].SubscriptionSubscriberCount(
            RedisChannel.Literal(prefix + "metrics"))), Wait);
        return (subscription, recorder, node);
    }

    private long Publish(string channel, string payload) =>
        redis.Connection.GetSubscriber().Publish(RedisChannel.Literal(channel), payload);

    [Fact]
    public void Turns_a_published_message_into_a_typed_command_and_a_handled_report()
    {
        var (_, recorder, node) = Start("a.");
        using var _ = node;
        var sentAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        Publish("a.metrics", $$"""{"type":"queue_length","queue":"q1","length":7,"published_at":{{sentAt}}}""");

        Assert.Equal(new UpdateQueueLength("q1", 7), recorder.ExpectMsg<UpdateQueueLength>(Wait));
        var handled = recorder.ExpectMsg<PubSubMessageHandled>(Wait);
        Assert.Equal(("a.metrics", "queue_length"), (handled.Channel, handled.MessageType));
        Assert.InRange(handled.LatencySeconds!.Value, 0, 5);
    }

    [Fact]
    public void Rejects_bad_input_and_keeps_handling_what_follows()
    {
        var (_, recorder, node) = Start("b.", maxPayload: 2048);
        using var _ = node;
        Publish("b.metrics", "{not json");
        Publish("b.metrics", """{"type":"queue_length","queue":"q","length":-3}""");
        Publish("b.metrics", new string(' ', 4096));
        Publish("b.metrics", """{"type":"task_execution","task_name":"t","queue":"q","duration":1,"status":"success"}""");

        Assert.Equal(RejectionReason.InvalidJson, recorder.ExpectMsg<MessageRejected>(Wait).Reason);
        Assert.Equal(RepliedRejected, recorder.ExpectMsg<PubSubMessageHandled>(Wait).MessageType);
        var outOfRange = recorder.ExpectMsg<MessageRejected>(Wait);
        Assert.Equal((ChannelKind.Metrics, RejectionReason.OutOfRange), (outOfRange.Kind, outOfRange.Reason));
        Assert.Contains("length", outOfRange.Detail);
        recorder.ExpectMsg<PubSubMessageHandled>(Wait);
        Assert.Equal(RejectionReason.TooLarge, recorder.ExpectMsg<MessageRejected>(Wait).Reason);
        recorder.ExpectMsg<PubSubMessageHandled>(Wait);
        Assert.Equal("t", recorder.ExpectMsg<TrackTaskExecution>(Wait).TaskName);
    }

    private const string RepliedRejected = RedisSubscriptionActor.RejectedMessageType;

    [Fact]
    public async Task Comes_back_after_redis_restarts_and_counts_the_resubscription()
    {
        await using var server = await CeleryActors.Redis.RedisServerProcess.StartAsync();
        using var node = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var recorder = CreateTestProbe();
        Sys.ActorOf(RedisSubscriptionActor.Props(node, new SubscriptionSettings(new ChannelNames(""), 1 << 20), recorder.Ref));
        using var publisher = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var channel = RedisChannel.Literal("metrics");
        await AwaitAssertAsync(async () => Assert.Equal(1, await publisher.GetSubscriber().PublishAsync(channel, "{}")), Wait);
        recorder.FishForMessage(m => m is PubSubMessageHandled, Wait);

        await server.KillAsync();
        await server.StartAsync();

        recorder.FishForMessage(m => m is ChannelsResubscribed, TimeSpan.FromSeconds(30));
        await AwaitAssertAsync(async () => Assert.Equal(1, await publisher.GetSubscriber().PublishAsync(channel,
            """{"type":"queue_length","queue":"after","length":1}""")), Wait);
        recorder.FishForMessage(m => m is UpdateQueueLength { Queue: "after" }, Wait);
    }
}
