using Akka.Actor;
using Akka.Event;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// The shape of every pub/sub intake of the node (the <c>metrics</c> channel, the allocator's channels, a Celery
/// broker's events): it owns the subscription's health, the size limit, the bounded buffer and the rejection log;
/// a feature supplies its feeds, what it does with a message, and how it counts a rejection. States:
/// <c>Subscribing</c> until Redis confirms every feed, <c>Listening</c>, <c>Interrupted</c> while the subscription
/// connection is lost (StackExchange.Redis reconnects with back-off and restores the subscription). A subscription
/// that cannot be made fails the actor, and its back-off supervisor starts it again. Messages are handled in every
/// state: those of a feed already confirmed come while the others confirm, and those queued before a loss come
/// after it is noticed.
/// </summary>
public abstract class PubSubIngressActor : ReceiveActor
{
    private readonly List<IDisposable> _feeds = [];
    private readonly LogThrottle _rejectionLog = new();
    private readonly int _maxPayloadBytes;

    /// <summary>Creates the intake; the derived actor calls <see cref="Subscribing()"/> last in its constructor.</summary>
    /// <param name="budget">The bytes its subscriber may hold not handled yet (<c>MAX_BUFFERED_BYTES</c>).</param>
    /// <param name="maxPayloadBytes">Larger payloads are rejected unread (<c>MAX_PAYLOAD_BYTES</c>).</param>
    /// <param name="recorder">The metrics recorder: told of the messages the budget dropped.</param>
    protected PubSubIngressActor(PubSubBudget budget, int maxPayloadBytes, IActorRef recorder)
    {
        Budget = budget;
        _maxPayloadBytes = maxPayloadBytes;
        Recorder = recorder;
    }

    /// <summary>The budget the feeds hold messages against.</summary>
    protected PubSubBudget Budget { get; }

    /// <summary>The metrics recorder.</summary>
    protected IActorRef Recorder { get; }

    /// <summary>The actor's log.</summary>
    protected ILoggingAdapter Log { get; } = Context.GetLogger();

    /// <summary>What it subscribes to, for the log (e.g. <c>the allocator's channels</c>).</summary>
    protected abstract string Subscription { get; }

    /// <summary>Starts its feeds (<see cref="PubSubFeed"/> or <see cref="FlowControlledFeed"/>), told to this actor.</summary>
    protected abstract IEnumerable<IDisposable> StartFeeds();

    /// <summary>Handles one message within the size limit (the budget is released already).</summary>
    protected abstract void Take(PubSubFeed.Message message);

    /// <summary>Counts one rejection (the log line is written by <see cref="Reject"/>).</summary>
    protected abstract void CountRejection(string channel, RejectionReason reason, string detail);

    /// <summary>A payload over the size limit, rejected unread; by default counted and logged.</summary>
    protected virtual void TooLarge(PubSubFeed.Message message, string detail) =>
        Reject(message.Channel, RejectionReason.TooLarge, detail);

    /// <summary>The subscription is back after a loss: what the feature must learn of it.</summary>
    protected abstract void Resubscribed();

    /// <summary>Handlers of the feature's own messages in every state (registered before the state's).</summary>
    protected virtual void EveryState()
    {
    }

    /// <summary>Handlers only while listening (registered before <see cref="EveryState"/>, so they win).</summary>
    protected virtual void WhileListening()
    {
    }

    /// <inheritdoc />
    protected override void PreStart() => _feeds.AddRange(StartFeeds());

    /// <inheritdoc />
    protected override void PostStop()
    {
        foreach (var feed in _feeds) feed.Dispose();
    }

    /// <summary>The first state: waits for Redis to confirm every feed.</summary>
    protected void Subscribing() => Subscribing(established: 0);

    // established: the feeds Redis has confirmed so far.
    private void Subscribing(int established)
    {
        EveryState();
        Receive<PubSubFeed.Established>(m =>
        {
            Log.Info("Subscribed to {0} ({1})", Subscription, m.Channel);
            if (established + 1 == _feeds.Count) Become(Listening);
            else Become(() => Subscribing(established + 1));
        });
        Receive<PubSubFeed.Failed>(m =>
            throw new RedisSubscriptionException($"Could not subscribe to {Subscription} ({m.Channel})", m.Cause));
        Receive<PubSubFeed.Interrupted>(_ => { });
        Receive<PubSubFeed.Restored>(_ => { });
        Receive<PubSubFeed.Message>(Handle);
    }

    private void Listening()
    {
        WhileListening();
        EveryState();
        Receive<PubSubFeed.Message>(Handle);
        Receive<PubSubFeed.Interrupted>(m =>
        {
            Log.Warning("Pub/sub connection to Redis lost for {0} ({1}); messages published meanwhile are lost", Subscription, m.Detail);
            Become(Interrupted);
        });
        Receive<PubSubFeed.Restored>(_ => { });
    }

    private void Interrupted()
    {
        EveryState();
        Receive<PubSubFeed.Message>(Handle);
        // Every feed hears the same connection event; the first one back is the subscription back.
        Receive<PubSubFeed.Restored>(_ =>
        {
            Log.Info("Pub/sub connection to Redis restored for {0}", Subscription);
            Resubscribed();
            Become(Listening);
        });
        Receive<PubSubFeed.Interrupted>(_ => { });
    }

    private void Handle(PubSubFeed.Message message)
    {
        Budget.Handled(message, Recorder, Log);
        if (message.Payload.Length > _maxPayloadBytes)
        {
            TooLarge(message, $"payload of {message.Payload.Length} bytes is over the limit of {_maxPayloadBytes}");
            return;
        }
        Take(message);
    }

    /// <summary>Counts a rejected message and logs it with its reason (throttled; never the payload).</summary>
    protected void Reject(string channel, RejectionReason reason, string detail)
    {
        CountRejection(channel, reason, detail);
        if (_rejectionLog.TryAcquire(out var suppressed))
            Log.Warning("Rejected a message on {0}: {1} ({2}){3}", channel, reason, detail,
                suppressed > 0 ? $"; {suppressed} more rejections not logged" : "");
    }

    /// <summary>Seconds from <paramref name="publishedAt"/> (the producer's clock) to now; null without it. Clocks
    /// differ: a message "from the future" has a latency of 0.</summary>
    protected static double? LatencySince(double? publishedAt) =>
        publishedAt is { } sent ? Math.Max(0, WireLimits.Now() - sent) : null;
}
