using Akka.Actor;
using Akka.Event;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Subscription;

/// <summary>Settings of the node's pub/sub subscription.</summary>
/// <param name="Channels">The node's channel names.</param>
/// <param name="MaxPayloadBytes">Payloads larger than this are rejected unread (SPEC §4.1, default 1 MiB).</param>
public sealed record SubscriptionSettings(ChannelNames Channels, int MaxPayloadBytes);

/// <summary>
/// Subscribes to the node's Redis channels and turns every message into a typed message for the actor that owns
/// it, or into a rejection (logged with its reason, counted, and nothing else happens). States:
/// <c>Subscribing</c> until Redis confirms, then <c>Listening</c>; <c>Interrupted</c> while the subscription
/// connection is lost (StackExchange.Redis reconnects with exponential back-off and restores the subscription,
/// which is counted as a resubscription). A subscription that cannot be made fails the actor, and its
/// back-off supervisor starts it again later.
/// </summary>
public sealed class RedisSubscriptionActor : ReceiveActor
{
    private readonly IConnectionMultiplexer _redis;
    private readonly SubscriptionSettings _settings;
    private readonly IActorRef _metrics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LogThrottle _rejectionLog = new();
    private ChannelMessageQueue? _queue;
    private EventHandler<ConnectionFailedEventArgs>? _onFailed;
    private EventHandler<ConnectionFailedEventArgs>? _onRestored;

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection; the actor does not own it.</param>
    /// <param name="settings">Channels and limits.</param>
    /// <param name="metrics">The metrics recorder, which receives metrics commands and pub/sub reports.</param>
    public RedisSubscriptionActor(IConnectionMultiplexer redis, SubscriptionSettings settings, IActorRef metrics)
    {
        _redis = redis;
        _settings = settings;
        _metrics = metrics;
        Subscribing();
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, SubscriptionSettings settings, IActorRef metrics) =>
        Akka.Actor.Props.Create(() => new RedisSubscriptionActor(redis, settings, metrics));

    /// <inheritdoc />
    protected override void PreStart()
    {
        var self = Self;
        _onFailed = (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
                self.Tell(new SubscriptionInterrupted(e.FailureType + ": " + e.Exception?.Message));
        };
        _onRestored = (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription) self.Tell(SubscriptionRestored.Instance);
        };
        _redis.ConnectionFailed += _onFailed;
        _redis.ConnectionRestored += _onRestored;

        _redis.GetSubscriber()
            .SubscribeAsync(RedisChannel.Literal(_settings.Channels.Metrics))
            .PipeTo(Self, success: queue => new SubscriptionEstablished(queue),
                failure: e => new SubscriptionFailed(e));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        if (_onFailed is not null) _redis.ConnectionFailed -= _onFailed;
        if (_onRestored is not null) _redis.ConnectionRestored -= _onRestored;
        _queue?.Unsubscribe(CommandFlags.FireAndForget);
    }

    private void Subscribing()
    {
        Receive<SubscriptionEstablished>(m =>
        {
            _queue = m.Queue;
            var self = Self;
            // Sequential delivery, in the order Redis sent them; the actor's mailbox takes it from here.
            _queue.OnMessage(message =>
                self.Tell(new InboundMessage(message.Channel.ToString(), (ReadOnlyMemory<byte>)message.Message)));
            _log.Info("Subscribed to {0}", _settings.Channels.Metrics);
            Become(Listening);
        });
        Receive<SubscriptionFailed>(m =>
            throw new RedisSubscriptionException($"Could not subscribe to {_settings.Channels.Metrics}", m.Cause));
        Receive<SubscriptionInterrupted>(_ => { });
        Receive<SubscriptionRestored>(_ => { });
    }

    private void Listening()
    {
        Receive<InboundMessage>(Handle);
        Receive<SubscriptionInterrupted>(m =>
        {
            _log.Warning("Pub/sub connection to Redis lost ({0}); waiting for it to come back", m.Detail);
            Become(Interrupted);
        });
        Receive<SubscriptionRestored>(_ => { });
    }

    private void Interrupted()
    {
        Receive<InboundMessage>(Handle);
        Receive<SubscriptionRestored>(_ =>
        {
            _log.Info("Pub/sub connection to Redis restored; subscription to {0} re-established",
                _settings.Channels.Metrics);
            Context.System.EventStream.Publish(new ChannelsResubscribed([_settings.Channels.Metrics]));
            _metrics.Tell(new ChannelsResubscribed([_settings.Channels.Metrics]));
            Become(Listening);
        });
        Receive<SubscriptionInterrupted>(_ => { });
    }

    private void Handle(InboundMessage message)
    {
        var kind = _settings.Channels.Classify(message.Channel);
        if (kind != ChannelKind.Metrics) return; // only the metrics channel is subscribed
        if (message.Payload.Length > _settings.MaxPayloadBytes)
        {
            Reject(ChannelKind.Metrics, message.Channel, RejectionReason.TooLarge,
                $"payload of {message.Payload.Length} bytes is over the limit of {_settings.MaxPayloadBytes}");
            return;
        }
        var result = MetricsMessageParser.Parse(message.Payload.Span);
        if (result.IsRejected)
        {
            Reject(ChannelKind.Metrics, message.Channel, result.Reason, result.Detail!);
            return;
        }
        _metrics.Tell(result.Message);
        _metrics.Tell(new PubSubMessageHandled(message.Channel, result.MessageType, LatencySince(result.PublishedAt)));
    }

    private void Reject(ChannelKind kind, string channel, RejectionReason reason, string detail)
    {
        _metrics.Tell(new MessageRejected(kind, channel, reason, detail));
        _metrics.Tell(new PubSubMessageHandled(channel, RejectedMessageType, null));
        if (_rejectionLog.TryAcquire(out var suppressed))
            _log.Warning("Rejected a message on {0}: {1} ({2}){3}", channel, reason, detail,
                suppressed > 0 ? $"; {suppressed} more rejections not logged" : "");
    }

    private static double? LatencySince(double? publishedAt)
    {
        if (publishedAt is not { } sent) return null;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        // Clocks of producer and node differ; a message "from the future" has no meaningful latency.
        return Math.Max(0, now - sent);
    }

    /// <summary>The <c>message_type</c> label of a pub/sub message the node rejected.</summary>
    public const string RejectedMessageType = "rejected";

    private sealed record InboundMessage(string Channel, ReadOnlyMemory<byte> Payload)
        : INoSerializationVerificationNeeded;

    private sealed record SubscriptionEstablished(ChannelMessageQueue Queue) : INoSerializationVerificationNeeded;

    private sealed record SubscriptionFailed(Exception Cause) : INoSerializationVerificationNeeded;

    private sealed record SubscriptionInterrupted(string Detail) : INoSerializationVerificationNeeded;

    private sealed record SubscriptionRestored : INoSerializationVerificationNeeded
    {
        public static readonly SubscriptionRestored Instance = new();
    }
}

/// <summary>The subscription to the node's channels could not be made; its supervisor retries with back-off.</summary>
public sealed class RedisSubscriptionException(string message, Exception inner) : Exception(message, inner);
