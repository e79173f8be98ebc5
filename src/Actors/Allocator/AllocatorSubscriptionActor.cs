using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The allocator's side of the node's Redis subscription: subscribes to <c>P + tasks:*</c> (a pattern),
/// <c>P + workers:control</c> and <c>P + task-status</c>, turns each valid message into a typed message for the
/// right entity (tasks to the queue region, control and status to the worker region), and rejects the rest as
/// SPEC §4.1 says: logged with its reason (throttled, never the payload), counted by channel kind and reason,
/// and the node goes on. States: <c>Subscribing</c> until Redis confirms all three, <c>Listening</c>,
/// <c>Interrupted</c> while the subscription connection is lost. A subscription that cannot be made fails
/// the actor, and its back-off supervisor starts it again.
/// </summary>
public sealed class AllocatorSubscriptionActor : ReceiveActor
{
    private readonly IConnectionMultiplexer _redis;
    private readonly AllocatorSettings _settings;
    private readonly IActorRef _metrics;
    private readonly CeleryMetrics _counters;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LogThrottle _rejectionLog = new();
    private readonly List<PubSubFeed> _feeds = [];
    private int _established;

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection.</param>
    /// <param name="settings">Channels, limits.</param>
    /// <param name="metrics">The metrics recorder (rejections, latency observations).</param>
    /// <param name="counters">The node's metrics, where handled messages are counted directly.</param>
    /// <param name="queues">The queue region.</param>
    /// <param name="workers">The worker region.</param>
    public AllocatorSubscriptionActor(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef metrics,
        CeleryMetrics counters, IActorRef queues, IActorRef workers)
    {
        _redis = redis;
        _settings = settings;
        _metrics = metrics;
        _counters = counters;
        _queues = queues;
        _workers = workers;
        Subscribing();
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef metrics,
        CeleryMetrics counters, IActorRef queues, IActorRef workers) =>
        Akka.Actor.Props.Create(() => new AllocatorSubscriptionActor(redis, settings, metrics, counters, queues, workers));

    /// <summary>The channels (and pattern) the actor subscribes to.</summary>
    public IReadOnlyList<string> Channels =>
        [_settings.Channels.TasksPattern, _settings.Channels.WorkersControl, _settings.Channels.TaskStatus];

    /// <inheritdoc />
    protected override void PreStart()
    {
        _feeds.Add(PubSubFeed.Start(_redis, RedisChannel.Pattern(_settings.Channels.TasksPattern), Self));
        _feeds.Add(PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.WorkersControl), Self));
        _feeds.Add(PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.TaskStatus), Self));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        foreach (var feed in _feeds) feed.Dispose();
    }

    private void Subscribing()
    {
        Receive<PubSubFeed.Established>(m =>
        {
            _log.Info("Allocator subscribed to {0}", m.Channel);
            if (++_established == 3) Become(Listening);
        });
        Receive<PubSubFeed.Failed>(m =>
            throw new RedisSubscriptionException($"Could not subscribe to {m.Channel}", m.Cause));
        // Messages of the feeds already established are handled while the others confirm.
        Receive<PubSubFeed.Message>(Handle);
        Receive<PubSubFeed.Interrupted>(_ => { });
        Receive<PubSubFeed.Restored>(_ => { });
    }

    private void Listening()
    {
        Receive<PubSubFeed.Message>(Handle);
        Receive<PubSubFeed.Interrupted>(m =>
        {
            _log.Warning("Allocator pub/sub connection lost ({0}); waiting for it to come back", m.Detail);
            Become(Interrupted);
        });
        Receive<PubSubFeed.Restored>(_ => { });
    }

    private void Interrupted()
    {
        Receive<PubSubFeed.Message>(Handle);
        // Every feed hears the same connection event; the first one back is the subscription back.
        Receive<PubSubFeed.Restored>(_ =>
        {
            _log.Info("Allocator pub/sub connection restored");
            var resubscribed = new ChannelsResubscribed(Channels);
            Context.System.EventStream.Publish(resubscribed);
            _metrics.Tell(resubscribed);
            Become(Listening);
        });
        Receive<PubSubFeed.Interrupted>(_ => { });
    }

    private void Handle(PubSubFeed.Message message)
    {
        if (_settings.Channels.Classify(message.Channel) is not { } kind || kind == ChannelKind.Metrics) return;
        if (message.Payload.Length > _settings.MaxPayloadBytes)
        {
            Reject(kind, message.Channel, RejectionReason.TooLarge,
                $"payload of {message.Payload.Length} bytes is over the limit of {_settings.MaxPayloadBytes}");
            return;
        }
        var payload = message.Payload.Span;
        switch (kind)
        {
            case ChannelKind.Tasks:
            {
                var queue = message.Channel[(_settings.Channels.Prefix.Length + "tasks:".Length)..];
                var r = TaskMessageParser.Parse(message.Channel, queue, payload, AllocatorSettings.Now());
                if (r.IsRejected) Reject(kind, message.Channel, r.Reason, r.Detail!);
                else Deliver(_queues, r.Message!, message.Channel, r.MessageType, r.PublishedAt);
                break;
            }
            case ChannelKind.WorkersControl:
            {
                var r = WorkerControlParser.Parse(payload);
                if (r.IsRejected) Reject(kind, message.Channel, r.Reason, r.Detail!);
                else Deliver(_workers, r.Message!, message.Channel, r.MessageType, r.PublishedAt);
                break;
            }
            case ChannelKind.TaskStatus:
            {
                var r = TaskStatusParser.Parse(payload);
                if (r.IsRejected) Reject(kind, message.Channel, r.Reason, r.Detail!);
                else Deliver(_workers, r.Message!, message.Channel, r.MessageType, r.PublishedAt);
                break;
            }
        }
    }

    private void Deliver(IActorRef region, object message, string channel, string type, double? publishedAt)
    {
        region.Tell(message);
        // Counted here (counters are thread-safe): a message to the recorder per task, status and heartbeat was a
        // hop the allocator's hot path does not need. Only histogram values go through the recorder's pipeline.
        _counters.CountPubSubMessage(channel, type);
        if (publishedAt is { } sent) _metrics.Tell(new ObservePubSubLatency(channel, Math.Max(0, AllocatorSettings.Now() - sent)));
    }

    private void Reject(ChannelKind kind, string channel, RejectionReason reason, string detail)
    {
        _metrics.Tell(new MessageRejected(kind, channel, reason, detail));
        _metrics.Tell(new PubSubMessageHandled(channel, RedisSubscriptionActor.RejectedMessageType, null));
        if (_rejectionLog.TryAcquire(out var suppressed))
            _log.Warning("Rejected a message on {0}: {1} ({2}){3}", channel, reason, detail,
                suppressed > 0 ? $"; {suppressed} more rejections not logged" : "");
    }
}
