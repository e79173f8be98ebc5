using Akka.Actor;
using Akka.Event;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Subscription;

/// <summary>Settings of the node's pub/sub subscription.</summary>
/// <param name="Channels">The node's channel names.</param>
/// <param name="MaxPayloadBytes">Payloads larger than this are rejected unread (SPEC §4.1, default 1 MiB).</param>
/// <param name="MaxBufferedBytes">Bytes of messages heard and not handled yet the subscriber holds; past them
/// messages are dropped and counted (<see cref="PubSubBudget"/>).</param>
public sealed record SubscriptionSettings(ChannelNames Channels, int MaxPayloadBytes,
    long MaxBufferedBytes = PubSubBudget.DefaultBytes);

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
    private readonly MessageOwnership _ownership;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LogThrottle _rejectionLog = new();
    private readonly PubSubBudget _budget;
    private PubSubFeed? _feed;

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection; the actor does not own it.</param>
    /// <param name="settings">Channels and limits.</param>
    /// <param name="metrics">The metrics recorder, which receives metrics commands and pub/sub reports.</param>
    /// <param name="ownership">Which messages this node counts (every node of the cluster hears them all);
    /// null: all of them.</param>
    public RedisSubscriptionActor(IConnectionMultiplexer redis, SubscriptionSettings settings, IActorRef metrics,
        MessageOwnership? ownership = null)
    {
        _redis = redis;
        _settings = settings;
        _metrics = metrics;
        _ownership = ownership ?? new MessageOwnership();
        _budget = new PubSubBudget(PubSubMessagesDropped.Metrics, settings.MaxBufferedBytes);
        Subscribing();
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, SubscriptionSettings settings, IActorRef metrics,
        MessageOwnership? ownership = null) =>
        Akka.Actor.Props.Create(() => new RedisSubscriptionActor(redis, settings, metrics, ownership));

    /// <inheritdoc />
    protected override void PreStart() =>
        _feed = PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.Metrics), Self, _budget);

    /// <inheritdoc />
    protected override void PostStop() => _feed?.Dispose();

    private void Subscribing()
    {
        Receive<PubSubFeed.Established>(m =>
        {
            _log.Info("Subscribed to {0}", m.Channel);
            Become(Listening);
        });
        Receive<PubSubFeed.Failed>(m =>
            throw new RedisSubscriptionException($"Could not subscribe to {m.Channel}", m.Cause));
        Receive<PubSubFeed.Interrupted>(_ => { });
        Receive<PubSubFeed.Restored>(_ => { });
    }

    private void Listening()
    {
        Receive<PubSubFeed.Message>(Handle);
        Receive<PubSubFeed.Interrupted>(m =>
        {
            _log.Warning("Pub/sub connection to Redis lost ({0}); waiting for it to come back", m.Detail);
            Become(Interrupted);
        });
        Receive<PubSubFeed.Restored>(_ => { });
    }

    private void Interrupted()
    {
        Receive<PubSubFeed.Message>(Handle);
        Receive<PubSubFeed.Restored>(_ =>
        {
            _log.Info("Pub/sub connection to Redis restored; subscription to {0} re-established",
                _settings.Channels.Metrics);
            var resubscribed = new ChannelsResubscribed([_settings.Channels.Metrics]);
            Context.System.EventStream.Publish(resubscribed);
            _metrics.Tell(resubscribed);
            Become(Listening);
        });
        Receive<PubSubFeed.Interrupted>(_ => { });
    }

    private void Handle(PubSubFeed.Message message)
    {
        _budget.Handled(message, _metrics, _log);
        var kind = _settings.Channels.Classify(message.Channel);
        if (kind != ChannelKind.Metrics) return; // only the metrics channel is subscribed
        // Every node hears every message; one of them counts it (and logs it, if it is bad).
        var owned = _ownership.Owns(message.Channel, message.Payload.Span);
        if (message.Payload.Length > _settings.MaxPayloadBytes)
        {
            if (owned)
                Reject(ChannelKind.Metrics, message.Channel, RejectionReason.TooLarge,
                    $"payload of {message.Payload.Length} bytes is over the limit of {_settings.MaxPayloadBytes}");
            return;
        }
        var result = MetricsMessageParser.Parse(message.Payload.Span);
        if (result.IsRejected)
        {
            if (owned) Reject(ChannelKind.Metrics, message.Channel, result.Reason, result.Detail!);
            return;
        }
        if (owned)
        {
            _metrics.Tell(result.Message);
            _metrics.Tell(new PubSubMessageHandled(message.Channel, result.MessageType, LatencySince(result.PublishedAt)));
        }
        // A gauge is not a sum: every node shows a queue's latest length, whoever counted the message.
        else if (result.Message is UpdateQueueLength length) _metrics.Tell(length);
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
}

/// <summary>The subscription to the node's channels could not be made; its supervisor retries with back-off.</summary>
public sealed class RedisSubscriptionException(string message, Exception inner) : Exception(message, inner);
