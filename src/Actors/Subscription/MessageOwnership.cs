using System.IO.Hashing;
using System.Text;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Decides which node handles a pub/sub message that every node hears, so that each message enters the cluster
/// once. Two decisions, both made alike by every node from the members it lists the same way:
/// <list type="bullet">
/// <item><see cref="Owns"/> (the metrics channel, rejected messages): a hash of the channel and bytes over the
/// reachable members that are Up or Leaving, so a dead node's share is taken over once it is seen unreachable.</item>
/// <item><see cref="Takes"/> (the allocator's channels): the shard the message is for, by rendezvous hashing over
/// the members that are Up (reachable or not) or downed and not removed yet. The shard's entity lives on the node
/// that takes its messages (<see cref="OwnerShardAllocationStrategy"/>), so most of them never cross the network;
/// a member joining or leaving moves only its own share. An unreachable or downed member keeps its share until
/// it is removed: its entities cannot be reached before, and what it missed is replayed by the new taker then
/// (<see cref="Changed"/>).</item>
/// </list>
/// While the nodes agree on the members, each message is handled by one node. When the membership changes, nodes
/// see the change a moment apart, and a message of that moment may be handled twice or not at all: the allocator
/// replays what it kept of those moments, and its entities are idempotent by task id and status. A node outside
/// any cluster counts everything and takes nothing (it is not Up), as its shard regions could not deliver yet.
/// Read on every message from any thread, changed by <see cref="MessageOwnershipActor"/>.
/// </summary>
public sealed class MessageOwnership
{
    private volatile View _view = View.Alone;

    /// <summary>How many members share the counted messages (0 before the node has joined).</summary>
    public int Members => _view.Sharing.Count;

    /// <summary>The members and this node's place among them now; entries kept for replay remember it.</summary>
    public View Current => _view;

    /// <summary>Whether this node counts the message of <paramref name="channel"/> with these bytes.</summary>
    public bool Owns(string channel, ReadOnlySpan<byte> payload) => _view.Owns(channel, payload);

    /// <summary>Whether this node turns the messages of <paramref name="shard"/> of <paramref name="typeName"/>
    /// into commands.</summary>
    public bool Takes(string typeName, string shard) => _view.Takes(typeName, shard);

    /// <summary>Sets the members and which of them this node is.</summary>
    /// <param name="sharing">Reachable members that are Up or Leaving (they count messages), in any order.</param>
    /// <param name="taking">Members that are Up, reachable or not, or downed and not removed yet (they take the
    /// allocator's messages).</param>
    /// <param name="self">This node's address.</param>
    /// <returns>The view before and after, when the takers changed; null when they did not.</returns>
    public Changed? Update(IEnumerable<string> sharing, IEnumerable<string> taking, string self)
    {
        var before = _view;
        var after = new View(Listed(sharing, self), Listed(taking, self));
        _view = after;
        return before.Taking.SequenceEqual(after.Taking) && before.Taking.Self == after.Taking.Self
            ? null
            : new Changed(before, after);
    }

    private static MemberList Listed(IEnumerable<string> members, string self)
    {
        var ordered = members.Order(StringComparer.Ordinal).ToArray();
        return new MemberList(ordered, Array.IndexOf(ordered, self));
    }

    /// <summary>The hash every node computes alike: XxHash3 of the payload, seeded with the channel's.</summary>
    public static ulong Hash(string channel, ReadOnlySpan<byte> payload) =>
        XxHash3.HashToUInt64(payload, Seed(channel));

    /// <summary>The member of <paramref name="members"/> (addresses) that takes <paramref name="shard"/> of
    /// <paramref name="typeName"/>: the highest score of the shard's key seeded with each member's address. The
    /// shard allocation makes the same choice, so this is where the shard's entities live.</summary>
    /// <returns>An index into <paramref name="members"/>, or -1 when it is empty.</returns>
    public static int Taker(IReadOnlyList<string> members, string typeName, string shard) =>
        TakerOfSeeds(members.Select(Seed).ToArray(), typeName, shard);

    private static int TakerOfSeeds(ReadOnlySpan<long> seeds, string typeName, string shard)
    {
        Span<byte> key = stackalloc byte[256];
        var length = Utf8(typeName, key[..128]);
        key[length++] = (byte)'/';
        length += Utf8(shard, key[length..]);
        var (best, bestScore) = (-1, 0UL);
        for (var i = 0; i < seeds.Length; i++)
        {
            var score = XxHash3.HashToUInt64(key[..length], seeds[i]);
            if (best < 0 || score > bestScore) (best, bestScore) = (i, score);
        }
        return best;
    }

    private static long Seed(string text)
    {
        Span<byte> bytes = stackalloc byte[1024];
        return (long)XxHash3.HashToUInt64(bytes[..Utf8(text, bytes)]);
    }

    private static int Utf8(string text, Span<byte> into) =>
        Encoding.UTF8.TryGetBytes(text.AsSpan(0, Math.Min(text.Length, into.Length / 4)), into, out var written) ? written : 0;

    /// <summary>Members in address order and this node's index among them (-1: not a member).</summary>
    /// <param name="Addresses">The members' addresses, ordered.</param>
    /// <param name="Self">This node's index, or -1.</param>
    public sealed record MemberList(string[] Addresses, int Self)
    {
        // Each member's hash seed, computed once per view rather than once per message.
        private readonly long[] _seeds = Addresses.Select(Seed).ToArray();

        /// <summary>How many.</summary>
        public int Count => Addresses.Length;

        /// <summary>Whether the two lists hold the same addresses.</summary>
        public bool SequenceEqual(MemberList other) => Addresses.AsSpan().SequenceEqual(other.Addresses);

        /// <summary>The index of the member that takes <paramref name="shard"/> of <paramref name="typeName"/>.</summary>
        public int Taker(string typeName, string shard) => TakerOfSeeds(_seeds, typeName, shard);
    }

    /// <summary>What a node knew of the members at one moment.</summary>
    /// <param name="Sharing">The members that count messages.</param>
    /// <param name="Taking">The members that take the allocator's messages.</param>
    public sealed record View(MemberList Sharing, MemberList Taking)
    {
        /// <summary>Before any cluster information: counts everything, takes nothing.</summary>
        public static readonly View Alone = new(new MemberList([], -1), new MemberList([], -1));

        /// <summary>Whether this node counts the message of <paramref name="channel"/> with these bytes.</summary>
        public bool Owns(string channel, ReadOnlySpan<byte> payload)
        {
            if (Sharing.Count == 0) return true;
            if (Sharing.Self < 0) return false;
            return (int)(Hash(channel, payload) % (ulong)Sharing.Count) == Sharing.Self;
        }

        /// <summary>Whether this node takes the messages of <paramref name="shard"/> of <paramref name="typeName"/>.</summary>
        public bool Takes(string typeName, string shard) =>
            Taking.Self >= 0 && Taking.Taker(typeName, shard) == Taking.Self;
    }

    /// <summary>The takers changed (published on the event stream by <see cref="MessageOwnershipActor"/>).</summary>
    /// <param name="Before">The view before.</param>
    /// <param name="After">The view now.</param>
    /// <param name="Removed">Whether a member that was downed (it died, or was cut off) is gone: what it took and
    /// did not hand over may be lost with it.</param>
    public sealed record Changed(View Before, View After, bool Removed = false);
}
