using Akka.Actor;
using Akka.Cluster;
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
/// <c>P + workers:control</c> and <c>P + task-status</c>, turns each valid message into a typed message for the
/// right entity (tasks to the queue region, control and status to the worker region), and rejects the rest as
/// SPEC §4.1 says: logged with its reason (throttled, never the payload), counted by channel kind and reason,
/// and the node goes on. States: <c>Subscribing</c> until Redis confirms all three, <c>Listening</c>,
/// <c>Interrupted</c> while the subscription connection is lost. A subscription that cannot be made fails
/// the actor, and its back-off supervisor starts it again.
/// </summary>
public sealed class AllocatorSubscriptionActor : ReceiveActor, IWithTimers
{
    private readonly IConnectionMultiplexer _redis;
    private readonly AllocatorSettings _settings;
    private readonly IActorRef _metrics;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly long _node;
    private readonly MessageOwnership _ownership;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LogThrottle _rejectionLog = new();
    private readonly List<PubSubFeed> _feeds = [];
    private readonly RecentCopies _recent;
    private readonly PubSubBudget _budget;
    private int _established;

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection.</param>
    /// <param name="settings">Channels, limits.</param>
    /// <param name="metrics">The metrics recorder (rejections, latency observations).</param>
    /// <param name="queues">The queue region.</param>
    /// <param name="workers">The worker region.</param>
    /// <param name="node">This node's incarnation (its cluster uid), on every copy it forwards.</param>
    /// <param name="ownership">Which rejected messages this node counts (every node hears them all).</param>
    public AllocatorSubscriptionActor(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef metrics,
        IActorRef queues, IActorRef workers, long node, MessageOwnership ownership)
    {
        _node = node;
        _ownership = ownership;
        _recent = new RecentCopies(settings.ReplayCapacity, settings.ReplayBudgetBytes, settings.ReplayWindow);
        _budget = new PubSubBudget(PubSubMessagesDropped.Allocator, settings.MaxBufferedBytes);
        _redis = redis;
        _settings = settings;
        _metrics = metrics;
        _queues = queues;
        _workers = workers;
        Subscribing();
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef metrics,
        IActorRef queues, IActorRef workers, long node, MessageOwnership ownership) =>
        Akka.Actor.Props.Create(() =>
            new AllocatorSubscriptionActor(redis, settings, metrics, queues, workers, node, ownership));

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>How long after a node's removal the replay waits: the shard regions learn that the node's region
    /// is gone through their own watch, and a replay before that would follow the old homes into the void.</summary>
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
        Cluster.Get(Context.System).Subscribe(Self,
            ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberRemoved));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        Cluster.Get(Context.System).Unsubscribe(Self);
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
        Receive<ClusterEvent.MemberRemoved>(Replay);
        Receive<ReplayAfterRemoval>(Replay);
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
        Receive<ClusterEvent.MemberRemoved>(Replay);
        Receive<ReplayAfterRemoval>(Replay);
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
        Receive<ClusterEvent.MemberRemoved>(Replay);
        Receive<ReplayAfterRemoval>(Replay);
    }

    private void Handle(PubSubFeed.Message message)
    {
        _budget.Handled(message, _metrics, _log);
        if (_settings.Channels.Classify(message.Channel) is not { } kind || kind == ChannelKind.Metrics) return;
        if (message.Payload.Length > _settings.MaxPayloadBytes)
        {
            Reject(kind, message, RejectionReason.TooLarge,
                $"payload of {message.Payload.Length} bytes is over the limit of {_settings.MaxPayloadBytes}");
            return;
        }
        var payload = message.Payload.Span;
        switch (kind)
        {
            case ChannelKind.Tasks:
            {
                var queue = _settings.Channels.QueueOf(message.Channel);
                var r = TaskMessageParser.Parse(message.Channel, queue, payload, AllocatorSettings.Now());
                if (r.IsRejected) Reject(kind, message, r.Reason, r.Detail!);
                else Forward(_queues, r.Message! with { Via = Copy(message.Channel, r.MessageType, r.PublishedAt) },
                    message.Payload.Length);
                break;
            }
            case ChannelKind.WorkersControl:
            {
                var r = WorkerControlParser.Parse(payload);
                if (r.IsRejected)
                {
                    Reject(kind, message, r.Reason, r.Detail!);
                    break;
                }
                var command = WithVia((IPubSubCommand)r.Message!, Copy(message.Channel, r.MessageType, r.PublishedAt));
                if (command is WorkerHeartbeat) _workers.Tell(command);
                else Forward(_workers, command, message.Payload.Length);
                break;
            }
            case ChannelKind.TaskStatus:
            {
                var r = TaskStatusParser.Parse(payload);
                if (r.IsRejected) Reject(kind, message, r.Reason, r.Detail!);
                else Forward(_workers, r.Message! with { Via = Copy(message.Channel, r.MessageType, r.PublishedAt) },
                    message.Payload.Length);
                break;
            }
        }
    }

    // Heartbeats are not kept: the next one comes within seconds, and an old one would only fake liveness.
    private void Forward(IActorRef region, IPubSubCommand command, int bytes)
    {
        region.Tell(command);
        _recent.Add(command, bytes, Environment.TickCount64);
    }

    // What this node sent to entities on a node that was dying is lost with it; the entities start again on the
    // survivors, and those that just started take what they do not know (the others ignore replays). A node that
    // left in good order handed its entities over with their mailboxes; only a downed one loses messages.
    private void Replay(ClusterEvent.MemberRemoved removed)
    {
        var self = Cluster.Get(Context.System).SelfMember;
        if (removed.PreviousStatus != MemberStatus.Down || self.Status != MemberStatus.Up) return;
        Timers.StartSingleTimer("replay-" + removed.Member.UniqueAddress,
            new ReplayAfterRemoval(removed.Member.Address), ReplayDelay);
    }

    private void Replay(ReplayAfterRemoval removed)
    {
        var replayed = 0;
        foreach (var command in _recent.Within(Environment.TickCount64))
        {
            // Only copies heard on pub/sub are kept, so each has its Via.
            var region = command is SubmitTask ? _queues : _workers;
            region.Tell(WithVia(command, command.Via! with { Replay = true }));
            replayed++;
        }
        _log.Info("{0} was removed from the cluster; sent the {1} tasks, status reports and registrations of " +
                  "the last {2} again", removed.Node, replayed, _settings.ReplayWindow);
    }

    private sealed class ReplayAfterRemoval(Address node) : INoSerializationVerificationNeeded
    {
        public Address Node { get; } = node;
    }

    // Every node forwards what it hears and the entity counts each publication once (PubSubTally), so the
    // counters of all nodes add up to what was published; the copy says which node it is and what it measured.
    private PubSubCopy Copy(string channel, string type, double? publishedAt) =>
        new(_node, channel, type, publishedAt is { } sent ? Math.Max(0, AllocatorSettings.Now() - sent) : null);

    private static IPubSubCommand WithVia(IPubSubCommand command, PubSubCopy via) => command switch
    {
        SubmitTask t => t with { Via = via },
        WorkerTaskStatus s => s with { Via = via },
        RegisterWorker r => r with { Via = via },
        WorkerHeartbeat h => h with { Via = via },
        UnregisterWorker u => u with { Via = via },
        _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "not a pub/sub command"),
    };

    // A bad message reaches no entity: the node that owns it (MessageOwnership) counts and logs it.
    private void Reject(ChannelKind kind, PubSubFeed.Message message, RejectionReason reason, string detail)
    {
        if (_ownership.Owns(message.Channel, message.Payload.Span)) Reject(kind, message.Channel, reason, detail);
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
