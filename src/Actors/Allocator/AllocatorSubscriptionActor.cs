using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The allocator's side of the node's Redis subscription: subscribes to <c>P + tasks:*</c> (a pattern),
/// <c>P + workers:control</c> and <c>P + task-status</c>. Every node hears every message, and exactly one takes
/// it: the node that takes the shard of its entity (<see cref="MessageOwnership.Takes"/>), where that entity
/// lives, so most messages never cross the network. For tasks the queue is in the channel name, so no other node
/// reads the payload; a control message or status report is parsed to find its worker (or, for a report that names
/// it, its queue, which then takes it without the worker's entity). The taker turns the message
/// into a typed command for its entity, counts it, or rejects it as SPEC §4.1 says: logged with its reason
/// (throttled, never the payload), counted by channel kind and reason, and the node goes on. Every node keeps
/// the raw messages of the last moments (<see cref="RecentMessages"/>) and, when the takers change, takes again
/// those of the shards it takes now (<see cref="IPubSubCommand.Replayed"/>): what nobody took while the nodes
/// disagreed, and what a node that died took with it. Its states are those of every intake
/// (<see cref="PubSubIngressActor"/>).
/// </summary>
public sealed class AllocatorSubscriptionActor : PubSubIngressActor, IWithTimers
{
    private const string TrimTimer = "trim";
    private readonly IConnectionMultiplexer _redis;
    private readonly AllocatorSettings _settings;
    private readonly AllocatorMetrics _metrics;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly MessageOwnership _ownership;
    private readonly AllocatorMessageExtractor _shards = new();
    private readonly RecentMessages _recent;
    private long _changes;

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection.</param>
    /// <param name="settings">Channels, limits.</param>
    /// <param name="recorder">The metrics recorder (rejections, latency observations).</param>
    /// <param name="metrics">The allocator's metrics (messages taken).</param>
    /// <param name="queues">The queue region.</param>
    /// <param name="workers">The worker region.</param>
    /// <param name="ownership">Which messages this node takes, and which rejections it counts.</param>
    public AllocatorSubscriptionActor(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef recorder,
        AllocatorMetrics metrics, IActorRef queues, IActorRef workers, MessageOwnership ownership)
        : base(new PubSubBudget(PubSubMessagesDropped.Allocator, settings.MaxBufferedBytes), settings.MaxPayloadBytes, recorder)
    {
        _redis = redis;
        _settings = settings;
        _metrics = metrics;
        _queues = queues;
        _workers = workers;
        _ownership = ownership;
        _recent = new RecentMessages(settings.ReplayBudgetBytes, settings.ReplayWindow);
        Subscribing();
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef recorder,
        AllocatorMetrics metrics, IActorRef queues, IActorRef workers, MessageOwnership ownership) =>
        Akka.Actor.Props.Create(() =>
            new AllocatorSubscriptionActor(redis, settings, recorder, metrics, queues, workers, ownership));

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>How long after the takers changed the messages are taken again: the shard regions learn that a
    /// removed node's region is gone through their own watch, and a message sent before that would follow the old
    /// home into the void.</summary>
    public static readonly TimeSpan ReplayDelay = TimeSpan.FromSeconds(2);

    /// <summary>The channels (and pattern) the actor subscribes to.</summary>
    public IReadOnlyList<string> Channels =>
        [_settings.Channels.TasksPattern, _settings.Channels.WorkersControl, _settings.Channels.TaskStatus];

    /// <inheritdoc />
    protected override string Subscription => "the allocator's channels";

    /// <inheritdoc />
    protected override IEnumerable<IDisposable> StartFeeds() =>
    [
        PubSubFeed.Start(_redis, RedisChannel.Pattern(_settings.Channels.TasksPattern), Self, Budget),
        PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.WorkersControl), Self, Budget),
        PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.TaskStatus), Self, Budget),
    ];

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        Context.System.EventStream.Subscribe(Self, typeof(MessageOwnership.Changed));
        // An idle node lets go of what it kept as the window passes, not only when the next message comes.
        Timers.StartPeriodicTimer(TrimTimer, TrimRecent.Instance, TimeSpan.FromSeconds(1));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        base.PostStop();
    }

    /// <inheritdoc />
    protected override void Resubscribed()
    {
        var resubscribed = new ChannelsResubscribed(Channels);
        Context.System.EventStream.Publish(resubscribed);
        Recorder.Tell(resubscribed);
    }

    // Changes of the takers, and the window's passing, whatever the subscription's state.
    /// <inheritdoc />
    protected override void EveryState()
    {
        Receive<MessageOwnership.Changed>(changed =>
            Timers.StartSingleTimer("take-again-" + ++_changes, new TakeAgain(changed.Removed), ReplayDelay));
        Receive<TakeAgain>(TakeAgainNow);
        Receive<TrimRecent>(_ => _recent.Trim(Environment.TickCount64));
    }

    // A message whose entity is not known (too large to read) is counted by one node, chosen from its bytes.
    /// <inheritdoc />
    protected override void TooLarge(PubSubFeed.Message message, string detail)
    {
        if (_settings.Channels.Classify(message.Channel) is not (null or ChannelKind.Metrics))
            RejectOnce(message, RejectionReason.TooLarge, detail);
    }

    /// <inheritdoc />
    protected override void Take(PubSubFeed.Message message)
    {
        if (_settings.Channels.Classify(message.Channel) is not { } kind || kind == ChannelKind.Metrics) return;
        var arrivedAt = AllocatorSettings.Now();
        if (kind == ChannelKind.Tasks)
        {
            // The queue is in the channel name: a node that does not take it never reads the payload.
            var shard = _shards.ShardId(_settings.Channels.QueueOf(message.Channel));
            if (Keep(kind, message, AllocatorMessageExtractor.QueueTypeName, shard, arrivedAt))
                Forward(kind, message, Parse(kind, message.Channel, message.Payload.Span, arrivedAt));
            return;
        }
        var parsed = Parse(kind, message.Channel, message.Payload.Span, arrivedAt);
        if (parsed.IsRejected)
        {
            RejectOnce(message, parsed.Reason, parsed.Detail!);
            return;
        }
        var (typeName, id) = WireRouting.EntityOf(parsed.Message!);
        if (Keep(kind, message, typeName, _shards.ShardId(id), arrivedAt)) Forward(kind, message, parsed);
    }

    // Kept whoever takes it; true when this node does.
    private bool Keep(ChannelKind kind, PubSubFeed.Message message, string typeName, string shard, double arrivedAt)
    {
        var taken = _ownership.Takes(typeName, shard);
        _recent.Add(new RecentMessages.Entry(Environment.TickCount64, arrivedAt, kind, message.Channel, message.Payload,
            typeName, shard) { Taken = taken });
        return taken;
    }

    private void Forward(ChannelKind kind, PubSubFeed.Message message, ParseResult<IPubSubCommand> parsed)
    {
        if (parsed.IsRejected)
        {
            Reject(message.Channel, parsed.Reason, parsed.Detail!);
            return;
        }
        _metrics.CountPubSubMessage(message.Channel, parsed.MessageType);
        if (LatencySince(parsed.PublishedAt) is { } latency) Recorder.Tell(new ObservePubSubLatency(message.Channel, latency));
        WireRouting.Send(parsed.Message!, _queues, _workers);
    }

    // The takers changed: what this node takes now, it takes again from what it kept - what it did not take when it
    // came, and, when a downed node is gone, also what it did (sent to entities that may have lived there).
    // Heartbeats are not taken again: the next one comes within seconds, and an old one would only fake liveness.
    // Not counted again either: each was counted when it was first taken, or never reached an entity.
    private void TakeAgainNow(TakeAgain again)
    {
        var view = _ownership.Current;
        var taken = 0;
        foreach (var entry in _recent.ToTakeAgain(Environment.TickCount64,
                     e => view.Takes(e.TypeName, e.Shard), again.EvenTaken))
        {
            var parsed = Parse(entry.Kind, entry.Channel, entry.Payload.Span, entry.ArrivedAt);
            if (parsed.IsRejected || parsed.Message is WorkerHeartbeat) continue;
            WireRouting.Send(Replayed(parsed.Message!), _queues, _workers);
            taken++;
        }
        Log.Info("The nodes that take the allocator's messages changed{0}: took {1} messages of the last {2} again",
            again.EvenTaken ? " (a downed node is gone)" : "", taken, _settings.ReplayWindow);
    }

    private ParseResult<IPubSubCommand> Parse(ChannelKind kind, string channel, ReadOnlySpan<byte> payload, double arrivedAt) =>
        kind switch
        {
            ChannelKind.Tasks => TaskMessageParser.Parse(channel, _settings.Channels.QueueOf(channel), payload, arrivedAt)
                .As<IPubSubCommand>(),
            ChannelKind.WorkersControl => WorkerControlParser.Parse(payload).As<IPubSubCommand>(),
            _ => TaskStatusParser.Parse(payload).As<IPubSubCommand>(),
        };

    private static IPubSubCommand Replayed(IPubSubCommand command) => command switch
    {
        SubmitTask t => t with { Replayed = true },
        WorkerTaskStatus s => s with { Replayed = true },
        RegisterWorker r => r with { Replayed = true },
        WorkerHeartbeat h => h with { Replayed = true },
        UnregisterWorker u => u with { Replayed = true },
        _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "not a pub/sub command"),
    };

    // A message whose entity is not known (too large to read, or no worker in it) is counted by one node, chosen from
    // its bytes (MessageOwnership.Owns).
    private void RejectOnce(PubSubFeed.Message message, RejectionReason reason, string detail)
    {
        if (_ownership.Owns(message.Channel, message.Payload.Span)) Reject(message.Channel, reason, detail);
    }

    /// <inheritdoc />
    protected override void CountRejection(string channel, RejectionReason reason, string detail)
    {
        var kind = _settings.Channels.Classify(channel) ?? ChannelKind.Tasks;
        Recorder.Tell(new MessageRejected(kind, channel, reason, detail));
        Recorder.Tell(new PubSubMessageHandled(channel, RedisSubscriptionActor.RejectedMessageType, null));
    }

    private sealed record TakeAgain(bool EvenTaken) : INoSerializationVerificationNeeded;

    private sealed class TrimRecent : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly TrimRecent Instance = new();
    }
}
