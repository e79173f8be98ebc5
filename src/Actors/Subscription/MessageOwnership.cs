using System.IO.Hashing;
using System.Text;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Decides which node counts a pub/sub message that every node hears. Each message belongs to one member of
/// the cluster, chosen from a hash of its channel and bytes over the members every node lists the same way
/// (reachable, Up or Leaving, ordered by address); only that node counts it. While the nodes agree on the
/// members, the sum of their counters counts each message once. When the membership changes (a node dies, joins
/// or leaves), nodes see the change a moment apart, and messages of that moment may be counted twice or not
/// at all; a dead node's share is taken over once the others see it unreachable. A node outside any cluster
/// (not yet joined) counts everything, as it is alone. Read on every message from any thread, changed by
/// <see cref="MessageOwnershipActor"/>.
/// </summary>
public sealed class MessageOwnership
{
    private volatile View _view = View.Alone;

    /// <summary>How many members share the messages (0 before the node has joined).</summary>
    public int Members => _view.Count;

    /// <summary>Whether this node counts the message of <paramref name="channel"/> with these bytes.</summary>
    public bool Owns(string channel, ReadOnlySpan<byte> payload)
    {
        var view = _view;
        if (view.Count == 0) return true;
        if (view.Self < 0) return false;
        return (int)(Hash(channel, payload) % (ulong)view.Count) == view.Self;
    }

    /// <summary>Sets the members that share the messages and which of them this node is.</summary>
    /// <param name="members">The sharing members' addresses, in any order.</param>
    /// <param name="self">This node's address.</param>
    public void Update(IEnumerable<string> members, string self)
    {
        var ordered = members.Order(StringComparer.Ordinal).ToArray();
        _view = new View(ordered.Length, Array.IndexOf(ordered, self));
    }

    /// <summary>The hash every node computes alike: XxHash3 of the payload, seeded with the channel's.</summary>
    public static ulong Hash(string channel, ReadOnlySpan<byte> payload)
    {
        Span<byte> name = stackalloc byte[Math.Min(Encoding.UTF8.GetMaxByteCount(channel.Length), 1024)];
        var length = Encoding.UTF8.TryGetBytes(channel, name, out var written) ? written : 0;
        var seed = (long)XxHash3.HashToUInt64(name[..length]);
        return XxHash3.HashToUInt64(payload, seed);
    }

    private sealed record View(int Count, int Self)
    {
        public static readonly View Alone = new(0, -1);
    }
}
