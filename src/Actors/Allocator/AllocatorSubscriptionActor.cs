using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Metrics;
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
/// reads the payload; a control message or status report is parsed to find its worker. The taker turns the message
/// into a typed command for its entity, counts it, or rejects it as SPEC §4.1 says: logged with its reason
/// (throttled, never the payload), counted by channel kind and reason, and the node goes on. Every node keeps
/// the raw messages of the last moments (<see cref="RecentMessages"/>) and, when the takers change, takes again
/// those of the shards it takes now (<see cref="IPubSubCommand.Replayed"/>): what nobody took while the nodes
/// disagreed, and what a node that died took with it. States: <c>Subscribing</c> until Redis confirms all three,
/// <c>Listening</c>, <c>Interrupted</c> while the subscription connection is lost. A subscription that cannot be
/// made fails the actor, and its back-off supervisor starts it again.
/// </summary>
public sealed class AllocatorSubscriptionActor : ReceiveActor, IWithTimers
{
    private const string TrimTimer = "trim";
    private readonly IConnectionMultiplexer _redis;
    private readonly AllocatorSettings _settings;
    private readonly IActorRef _recorder;
    private readonly AllocatorMetrics _metrics;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly MessageOwnership _ownership;
    private readonly AllocatorMessageExtractor _shards = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LogThrottle _rejectionLog = new();
    private readonly List<PubSubFeed> _feeds = [];
    private readonly RecentMessages _recent;
    private readonly PubSubBudget _budget;
    private int _established;
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
    {
        _redis = redis;
        _settings = settings;
        _recorder = recorder;
        _metrics = metrics;
        _queues = queues;
        _workers = workers;
        _ownership = ownership;
        _recent = new RecentMessages(settings.ReplayBudgetBytes, settings.ReplayWindow);
        _budget = new PubSubBudget(PubSubMessagesDropped.Allocator, settings.MaxBufferedBytes);
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
    protected override void PreStart()
    {
        _feeds.Add(PubSubFeed.Start(_redis, RedisChannel.Pattern(_settings.Channels.TasksPattern), Self, _budget));
        _feeds.Add(PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.WorkersControl), Self, _budget));
        _feeds.Add(PubSubFeed.Start(_redis, RedisChannel.Literal(_settings.Channels.TaskStatus), Self, _budget));
        Context.System.EventStream.Subscribe(Self, typeof(MessageOwnership.Changed));
        // An idle node lets go of what it kept as the window passes, not only when the next message comes.
        Timers.StartPeriodicTimer(TrimTimer, TrimRecent.Instance, TimeSpan.FromSeconds(1));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
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
        Receive<PubSubFeed.Interrupted>(_ => { });
        Receive<PubSubFeed.Restored>(_ => { });
        Always();
    }

    private void Listening()
    {
        Receive<PubSubFeed.Interrupted>(m =>
        {
            _log.Warning("Allocator pub/sub connection lost ({0}); waiting for it to come back", m.Detail);
            Become(Interrupted);
        });
        Receive<PubSubFeed.Restored>(_ => { });
        Always();
    }

    private void Interrupted()
    {
        // Every feed hears the same connection event; the first one back is the subscription back.
        Receive<PubSubFeed.Restored>(_ =>
        {
            _log.Info("Allocator pub/sub connection restored");
            var resubscribed = new ChannelsResubscribed(Channels);
            Context.System.EventStream.Publish(resubscribed);
            _recorder.Tell(resubscribed);
            Become(Listening);
        });
        Receive<PubSubFeed.Interrupted>(_ => { });
        Always();
    }

    // What every state handles alike: messages, changes of the takers, and the window's passing.
    private void Always()
    {
        Receive<PubSubFeed.Message>(Handle);
        Receive<MessageOwnership.Changed>(changed =>
            Timers.StartSingleTimer("take-again-" + ++_changes, new TakeAgain(changed.Removed), ReplayDelay));
        Receive<TakeAgain>(TakeAgainNow);
        Receive<TrimRecent>(_ => _recent.Trim(Environment.TickCount64));
    }

    private void Handle(PubSubFeed.Message message)
    {
        _budget.Handled(message, _recorder, _log);
        if (_settings.Channels.Classify(message.Channel) is not { } kind || kind == ChannelKind.Metrics) return;
        if (message.Payload.Length > _settings.MaxPayloadBytes)
        {
            RejectOnce(kind, message, RejectionReason.TooLarge,
                $"payload of {message.Payload.Length} bytes is over the limit of {_settings.MaxPayloadBytes}");
            return;
        }
        var arrivedAt = AllocatorSettings.Now();
        if (kind == ChannelKind.Tasks)
        {
            // The queue is in the channel name: a node that does not take it never reads the payload.
            var shard = _shards.ShardId(_settings.Channels.QueueOf(message.Channel));
            if (Keep(kind, message, shard, arrivedAt)) Take(kind, message, Parse(kind, message.Channel, message.Payload.Span, arrivedAt));
            return;
        }
        var parsed = Parse(kind, message.Channel, message.Payload.Span, arrivedAt);
        if (parsed.IsRejected)
        {
            RejectOnce(kind, message, parsed.Reason, parsed.Detail!);
            return;
        }
        var worker = ((IWithWorkerId)parsed.Message!).Worker;
        if (Keep(kind, message, _shards.ShardId(worker), arrivedAt)) Take(kind, message, parsed);
    }

    // Kept whoever takes it; true when this node does.
    private bool Keep(ChannelKind kind, PubSubFeed.Message message, string shard, double arrivedAt)
    {
        var taken = _ownership.Takes(AllocatorMessageExtractor.TypeNameOf(kind), shard);
        _recent.Add(new RecentMessages.Entry(Environment.TickCount64, arrivedAt, kind, message.Channel, message.Payload,
            shard) { Taken = taken });
        return taken;
    }

    private void Take(ChannelKind kind, PubSubFeed.Message message, ParseResult<IPubSubCommand> parsed)
    {
        if (parsed.IsRejected)
        {
            Reject(kind, message.Channel, parsed.Reason, parsed.Detail!);
            return;
        }
        _metrics.CountPubSubMessage(message.Channel, parsed.MessageType);
        if (parsed.PublishedAt is { } sent)
            _recorder.Tell(new ObservePubSubLatency(message.Channel, Math.Max(0, AllocatorSettings.Now() - sent)));
        (kind == ChannelKind.Tasks ? _queues : _workers).Tell(parsed.Message!, ActorRefs.NoSender);
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
                     e => view.Takes(AllocatorMessageExtractor.TypeNameOf(e.Kind), e.Shard), again.EvenTaken))
        {
            var parsed = Parse(entry.Kind, entry.Channel, entry.Payload.Span, entry.ArrivedAt);
            if (parsed.IsRejected || parsed.Message is WorkerHeartbeat) continue;
            (entry.Kind == ChannelKind.Tasks ? _queues : _workers).Tell(Replayed(parsed.Message!), ActorRefs.NoSender);
            taken++;
        }
        _log.Info("The nodes that take the allocator's messages changed{0}: took {1} messages of the last {2} again",
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
    private void RejectOnce(ChannelKind kind, PubSubFeed.Message message, RejectionReason reason, string detail)
    {
        if (_ownership.Owns(message.Channel, message.Payload.Span)) Reject(kind, message.Channel, reason, detail);
    }

    private void Reject(ChannelKind kind, string channel, RejectionReason reason, string detail)
    {
        _recorder.Tell(new MessageRejected(kind, channel, reason, detail));
        _recorder.Tell(new PubSubMessageHandled(channel, RedisSubscriptionActor.RejectedMessageType, null));
        if (_rejectionLog.TryAcquire(out var suppressed))
            _log.Warning("Rejected a message on {0}: {1} ({2}){3}", channel, reason, detail,
                suppressed > 0 ? $"; {suppressed} more rejections not logged" : "");
    }

    private sealed record TakeAgain(bool EvenTaken) : INoSerializationVerificationNeeded;

    private sealed class TrimRecent : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly TrimRecent Instance = new();
    }
}
