using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Puts each shard on the node that takes its pub/sub messages (<see cref="MessageOwnership.Taker"/>, rendezvous
/// hashing over the members that are Up), so a message taken there reaches its entity without crossing the network.
/// A shard whose taker has no region yet goes to the region with the fewest shards; rebalancing then moves shards
/// to their takers, a few at a time and only while every member is reachable and none is joining (as Akka's own
/// strategy does). Since a member joining or leaving moves only its own share of the rendezvous hash, so does
/// the rebalance.
/// </summary>
/// <param name="typeName">The shard type name, part of each shard's key.</param>
/// <param name="rebalanceLimit">Shards moved per rebalance round at most.</param>
public sealed class OwnerShardAllocationStrategy(string typeName, int rebalanceLimit = 10)
    : IActorSystemDependentAllocationStrategy
{
    private Cluster _cluster = null!;

    /// <inheritdoc />
    public void Start(ActorSystem system) => _cluster = Cluster.Get(system);

    /// <inheritdoc />
    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId,
        IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        var regions = RegionsByAddress(currentShardAllocations);
        if (Takers().Of(shardId) is { } taker && regions.TryGetValue(taker, out var home)) return Task.FromResult(home);
        // The taker's region is not registered yet (or the view lags): the least loaded one for now.
        var least = currentShardAllocations.OrderBy(r => r.Value.Count).Select(r => r.Key).FirstOrDefault() ?? requester;
        return Task.FromResult(least);
    }

    /// <inheritdoc />
    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations,
        IImmutableSet<string> rebalanceInProgress)
    {
        var state = _cluster.State;
        if (rebalanceInProgress.Count > 0 || state.Unreachable.Count > 0 ||
            state.Members.Any(m => m.Status is MemberStatus.Joining or MemberStatus.WeaklyUp))
            return Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);
        var regions = RegionsByAddress(currentShardAllocations);
        var takers = Takers();
        var moving = currentShardAllocations
            .SelectMany(r => r.Value.Select(shard => (Region: r.Key, Shard: shard)))
            .Where(x => takers.Of(x.Shard) is { } taker && regions.TryGetValue(taker, out var home) && !home.Equals(x.Region))
            .Select(x => x.Shard)
            .Take(rebalanceLimit)
            .ToImmutableHashSet();
        return Task.FromResult<IImmutableSet<string>>(moving);
    }

    // The members that take messages, by the same rule as the nodes' intake, listed once per decision: a rebalance
    // asks for every shard.
    private TakerList Takers()
    {
        var up = _cluster.State.Members.Where(m => m.Status == MemberStatus.Up).ToArray();
        return new TakerList(new MessageOwnership.MemberList(up.Select(m => m.UniqueAddress.ToString()).ToArray(), -1),
            up.Select(m => m.Address).ToArray(), typeName);
    }

    private sealed record TakerList(MessageOwnership.MemberList Members, Address[] Addresses, string TypeName)
    {
        public Address? Of(string shardId) => Members.Taker(TypeName, shardId) is var i and >= 0 ? Addresses[i] : null;
    }

    private Dictionary<Address, IActorRef> RegionsByAddress(IImmutableDictionary<IActorRef, IImmutableList<string>> allocations) =>
        allocations.Keys.ToDictionary(r => r.Path.Address.HasLocalScope ? _cluster.SelfAddress : r.Path.Address);
}
