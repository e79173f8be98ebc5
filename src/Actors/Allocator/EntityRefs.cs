using Akka.Actor;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The entities one entity of the slot protocol talks to, by entity id: the actor that last sent it a protocol
/// message, else the shard region. Sending straight to the entity saves the region's and the shard's mailbox on
/// every grant and notice; the region stays the way to an entity not heard from yet, or one that stopped (the
/// owner watches what it learns and forgets it on <see cref="Terminated"/>). The slot protocol's messages to one
/// entity take the same way once it is known, so they keep their order, and one lost to an entity that just
/// stopped is made good by the next sync. What must not be lost (a task's outcome, a worker leaving) goes through
/// <see cref="Region"/>, which holds messages while an entity moves.
/// </summary>
/// <param name="region">The shard region of the other kind of entity.</param>
public sealed class EntityRefs(IActorRef region)
{
    private readonly Dictionary<string, IActorRef> _known = new(StringComparer.Ordinal);

    /// <summary>The shard region.</summary>
    public IActorRef Region => region;

    /// <summary>Where to send the slot protocol's messages to entity <paramref name="id"/>.</summary>
    public IActorRef For(string id) => _known.TryGetValue(id, out var entity) ? entity : region;

    /// <summary>Learns that <paramref name="sender"/> is entity <paramref name="id"/>; true when the owner should
    /// watch it (new to it).</summary>
    public bool Learn(string id, IActorRef sender)
    {
        if (sender.IsNobody() || sender is DeadLetterActorRef || sender.Equals(region)) return false;
        if (_known.TryGetValue(id, out var known) && known.Equals(sender)) return false;
        _known[id] = sender;
        return true;
    }

    /// <summary>Forgets an entity that stopped (it moved, restarted or passivated): the region finds its successor.</summary>
    public void Forget(IActorRef stopped)
    {
        foreach (var id in _known.Where(k => k.Value.Equals(stopped)).Select(k => k.Key).ToList()) _known.Remove(id);
    }
}
