using System.Collections.Concurrent;
using CeleryActors.Redis;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.Redis;

/// <summary>The flow-controlled subscription against a real redis-server: order, flow control, reconnection and a
/// refused password.</summary>
public class FlowControlledSubscriptionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>Records what the subscription reports; holds each message until <see cref="Gate"/> opens.</summary>
    private sealed class Recorder : IPubSubHandler
    {
        public readonly ConcurrentQueue<string> Reports = new();
        public readonly ConcurrentQueue<(string Channel, byte[] Payload)> Messages = new();
        public TaskCompletionSource Gate = NewGate(open: true);

        public static TaskCompletionSource NewGate(bool open)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (open) gate.SetResult();
            return gate;
        }

        public void Subscribed(bool restored) => Reports.Enqueue(restored ? "restored" : "subscribed");

        public async ValueTask Received(string channel, byte[] payload, CancellationToken cancellation)
        {
            Messages.Enqueue((channel, payload));
            await Gate.Task.WaitAsync(cancellation);
        }

        public void Interrupted(string detail) => Reports.Enqueue("interrupted");

        public void Failed(Exception cause) => Reports.Enqueue("failed: " + cause.GetType().Name);
    }

    [Fact]
    public async Task Messages_of_the_pattern_arrive_in_order_with_their_channels()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var recorder = new Recorder();
        await using var subscription = FlowControlledSubscription.Start(redis.Url, "/0.celeryev/*", recorder);
        await Eventually.Holds(() => Assert.Equal(["subscribed"], recorder.Reports), Deadline);

        var sub = publisher.GetSubscriber();
        for (var i = 0; i < 1_000; i++)
            await sub.PublishAsync(RedisChannel.Literal(i % 2 == 0 ? "/0.celeryev/task.multi" : "/0.celeryev/worker.heartbeat"), $"m{i}");
        await sub.PublishAsync(RedisChannel.Literal("other"), "not ours");

        await Eventually.Holds(() => Assert.Equal(1_000, recorder.Messages.Count), Deadline);
        var messages = recorder.Messages.ToArray();
        Assert.Equal(Enumerable.Range(0, 1_000).Select(i => $"m{i}"), messages.Select(m => System.Text.Encoding.UTF8.GetString(m.Payload)));
        Assert.Equal("/0.celeryev/worker.heartbeat", messages[1].Channel);
        Assert.Equal("/0.celeryev/task.multi", messages[2].Channel);
    }

    [Fact]
    public async Task While_the_handler_holds_a_message_the_backlog_stays_in_redis_and_all_of_it_comes_after()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var options = ConfigurationOptions.Parse(redis.ConnectionString);
        options.AllowAdmin = true;
        using var publisher = await ConnectionMultiplexer.ConnectAsync(options);
        await publisher.GetServers()[0].ConfigSetAsync("client-output-buffer-limit", "pubsub 0 0 0");
        var recorder = new Recorder { Gate = Recorder.NewGate(open: false) };
        await using var subscription = FlowControlledSubscription.Start(redis.Url, "events.*", recorder);
        await Eventually.Holds(() => Assert.Single(recorder.Reports), Deadline);

        var payload = new byte[10_000];
        var sub = publisher.GetSubscriber();
        await Task.WhenAll(Enumerable.Range(0, 3_000).Select(_ => sub.PublishAsync(RedisChannel.Literal("events.x"), payload)));

        // 30 MB published, one message taken: Redis holds the rest for this client (its socket buffers a little).
        await Eventually.Holds(async () =>
        {
            var held = (await publisher.GetServers()[0].ClientListAsync())
                .Single(c => c.Name == FlowControlledSubscription.ClientName).Raw
                !.Split(" ").Single(f => f.StartsWith("omem=", StringComparison.Ordinal))[5..];
            Assert.True(long.Parse(held) > 20_000_000, $"Redis holds {held} bytes");
        }, Deadline);
        Assert.Single(recorder.Messages);

        recorder.Gate.SetResult();
        await Eventually.Holds(() => Assert.Equal(3_000, recorder.Messages.Count), Deadline);
        Assert.Equal(["subscribed"], recorder.Reports); // never cut off, never reconnected
    }

    [Fact]
    public async Task A_redis_restart_interrupts_the_subscription_which_comes_back_by_itself()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var recorder = new Recorder();
        await using var subscription = FlowControlledSubscription.Start(redis.Url, "events.*", recorder);
        await Eventually.Holds(() => Assert.Equal(["subscribed"], recorder.Reports), Deadline);

        await redis.StopAsync();
        await redis.StartAsync();
        await Eventually.Holds(() => Assert.Equal(["subscribed", "interrupted", "restored"], recorder.Reports), Deadline);

        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        await publisher.GetSubscriber().PublishAsync(RedisChannel.Literal("events.after"), "back");
        await Eventually.Holds(() => Assert.Contains(recorder.Messages, m => m.Channel == "events.after"), Deadline);
    }

    [Fact]
    public async Task A_refused_password_fails_the_subscription_without_naming_the_password()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var options = ConfigurationOptions.Parse(redis.ConnectionString);
        options.AllowAdmin = true;
        using (var admin = await ConnectionMultiplexer.ConnectAsync(options))
            await admin.GetServers()[0].ConfigSetAsync("requirepass", "right-one");
        var recorder = new Recorder();
        var wrong = redis.Url with { Password = "wrong-one" };
        await using var subscription = FlowControlledSubscription.Start(wrong, "events.*", recorder);
        await Eventually.Holds(() => Assert.Equal([$"failed: {nameof(RedisCredentialsRefusedException)}"], recorder.Reports), Deadline);

        // A password where none is asked is no reason to stop (StackExchange.Redis carries on too).
        await using var spare = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var needless = new Recorder();
        await using var open = FlowControlledSubscription.Start(spare.Url with { Password = "needless" }, "events.*", needless);
        await Eventually.Holds(() => Assert.Equal(["subscribed"], needless.Reports), Deadline);

        var right = redis.Url with { Password = "right-one" };
        var ok = new Recorder();
        await using var allowed = FlowControlledSubscription.Start(right, "events.*", ok);
        await Eventually.Holds(() => Assert.Equal(["subscribed"], ok.Reports), Deadline);
    }
}
