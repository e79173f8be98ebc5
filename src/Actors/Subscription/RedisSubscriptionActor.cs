using Akka.Actor;
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
/// The <c>metrics</c> channel's intake (<see cref="PubSubIngressActor"/>): every valid message becomes a typed
/// message for the metrics recorder, counted by the one node that owns it (<see cref="MessageOwnership.Owns"/>);
/// the rest is rejected, logged with its reason and counted, and nothing else happens.
/// </summary>
public sealed class RedisSubscriptionActor : PubSubIngressActor
{
    private readonly IConnectionMultiplexer _redis;
    private readonly SubscriptionSettings _settings;
    private readonly MessageOwnership _ownership;

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection; the actor does not own it.</param>
    /// <param name="settings">Channels and limits.</param>
    /// <param name="metrics">The metrics recorder, which receives metrics commands and pub/sub reports.</param>
    /// <param name="ownership">Which messages this node counts (every node of the cluster hears them all);
    /// null: all of them.</param>
    public RedisSubscriptionActor(IConnectionMultiplexer redis, SubscriptionSettings settings, IActorRef metrics,
        MessageOwnership? ownership = null)
        : base(new PubSubBudget(PubSubMessagesDropped.Metrics, settings.MaxBufferedBytes), settings.MaxPayloadBytes, metrics)
    {
        _redis = redis;
        _settings = settings;
        _ownership = ownership ?? new MessageOwnership();
        Subscribing();
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, SubscriptionSettings settings, IActorRef metrics,
        MessageOwnership? ownership = null) =>
        Akka.Actor.Props.Create(() => new RedisSubscriptionActor(redis, settings, metrics, ownership));

    /// <inheritdoc />
    protected override string Subscription => _settings.Channels.Metrics;

    /// <inheritdoc />
    protected override IEnumerable<IDisposable> StartFeeds() =>
        [PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.Metrics), Self, Budget)];

    /// <inheritdoc />
    protected override void Resubscribed()
    {
        var resubscribed = new ChannelsResubscribed([_settings.Channels.Metrics]);
        Context.System.EventStream.Publish(resubscribed);
        Recorder.Tell(resubscribed);
    }

    // Every node hears every message; one of them counts it (and logs it, if it is bad).
    /// <inheritdoc />
    protected override void TooLarge(PubSubFeed.Message message, string detail)
    {
        if (_ownership.Owns(message.Channel, message.Payload.Span)) Reject(message.Channel, RejectionReason.TooLarge, detail);
    }

    /// <inheritdoc />
    protected override void Take(PubSubFeed.Message message)
    {
        if (_settings.Channels.Classify(message.Channel) != ChannelKind.Metrics) return; // only it is subscribed
        var owned = _ownership.Owns(message.Channel, message.Payload.Span);
        var result = MetricsMessageParser.Parse(message.Payload.Span);
        if (result.IsRejected)
        {
            if (owned) Reject(message.Channel, result.Reason, result.Detail!);
            return;
        }
        if (owned)
        {
            Recorder.Tell(result.Message);
            Recorder.Tell(new PubSubMessageHandled(message.Channel, result.MessageType, LatencySince(result.PublishedAt)));
        }
        // A gauge is not a sum: every node shows a queue's latest length, whoever counted the message.
        else if (result.Message is UpdateQueueLength length) Recorder.Tell(length);
    }

    /// <inheritdoc />
    protected override void CountRejection(string channel, RejectionReason reason, string detail)
    {
        Recorder.Tell(new MessageRejected(ChannelKind.Metrics, channel, reason, detail));
        Recorder.Tell(new PubSubMessageHandled(channel, RejectedMessageType, null));
    }

    /// <summary>The <c>message_type</c> label of a pub/sub message the node rejected.</summary>
    public const string RejectedMessageType = "rejected";
}

/// <summary>The subscription to the node's channels could not be made; its supervisor retries with back-off.</summary>
public sealed class RedisSubscriptionException(string message, Exception inner) : Exception(message, inner);
