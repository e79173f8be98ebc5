using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Keeps the node's <see cref="MessageOwnership"/> in step with the cluster: on every membership or
/// reachability change it lists the members that count pub/sub messages (Up or Leaving, and reachable from
/// here) and those that take the allocator's (Up, or downed and not removed yet), and hands them over. A node seen
/// unreachable stops counting at once, so its share is counted by the others while the split-brain resolver
/// decides about it; it keeps taking its shards until it is removed, since their entities live there until then.
/// When the takers change, it publishes <see cref="MessageOwnership.Changed"/> on the event stream, so the intake
/// can take again what the change may have let through.
/// </summary>
public sealed class MessageOwnershipActor : ReceiveActor
{
    private readonly MessageOwnership _ownership;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // Kept from the events themselves: the cluster's read view is updated by another subscriber, maybe later.
    private readonly Dictionary<UniqueAddress, MemberStatus> _status = [];
    private readonly HashSet<UniqueAddress> _unreachable = [];
    private int _members = -1;

    /// <summary>Creates the actor.</summary>
    /// <param name="ownership">The node's ownership decision, shared with the subscriptions.</param>
    public MessageOwnershipActor(MessageOwnership ownership)
    {
        _ownership = ownership;
        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            _status.Clear();
            foreach (var m in state.Members) _status[m.UniqueAddress] = m.Status;
            _unreachable.Clear();
            foreach (var m in state.Unreachable) _unreachable.Add(m.UniqueAddress);
            Refresh();
        });
        Receive<ClusterEvent.MemberRemoved>(e =>
        {
            _status.Remove(e.Member.UniqueAddress);
            _unreachable.Remove(e.Member.UniqueAddress);
            Refresh(removedDowned: e.PreviousStatus == MemberStatus.Down);
        });
        Receive<ClusterEvent.IMemberEvent>(e =>
        {
            _status[e.Member.UniqueAddress] = e.Member.Status;
            Refresh();
        });
        Receive<ClusterEvent.UnreachableMember>(e =>
        {
            _unreachable.Add(e.Member.UniqueAddress);
            Refresh();
        });
        Receive<ClusterEvent.ReachableMember>(e =>
        {
            _unreachable.Remove(e.Member.UniqueAddress);
            Refresh();
        });
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(MessageOwnership ownership) =>
        Akka.Actor.Props.Create(() => new MessageOwnershipActor(ownership));

    /// <inheritdoc />
    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    /// <inheritdoc />
    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Refresh(bool removedDowned = false)
    {
        var sharing = _status
            .Where(m => m.Value is MemberStatus.Up or MemberStatus.Leaving && !_unreachable.Contains(m.Key))
            .Select(m => m.Key.ToString());
        // A downed member keeps its share until it is removed: until then the regions still send its shards'
        // messages to it, and what is taken again must wait for its removal (MessageOwnership.Changed.Removed).
        var taking = _status.Where(m => m.Value is MemberStatus.Up or MemberStatus.Down).Select(m => m.Key.ToString());
        if (_ownership.Update(sharing, taking, _cluster.SelfUniqueAddress.ToString()) is { } changed)
        {
            _log.Info("The allocator's messages are taken by {0} nodes{1}", changed.After.Taking.Count,
                changed.After.Taking.Self < 0 ? ", not this one" : "");
            Context.System.EventStream.Publish(changed with { Removed = removedDowned });
        }
        if (_ownership.Members == _members) return;
        _members = _ownership.Members;
        _log.Info("Pub/sub messages are counted by {0} nodes", _members);
    }
}
