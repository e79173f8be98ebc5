using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Counts publications from the copies every node forwards (<see cref="PubSubCopy"/>). For each channel and
/// message type it keeps how many copies each node has sent; each node hears each publication once, so the
/// highest of those counts is the number of publications. A copy that raises it is a new publication, any other
/// is the copy of one already counted. Exact whenever one node heard everything (a node that missed messages,
/// joined late or restarted only has a lower count), and never more than the truth in between. Counts start at
/// zero with each entity incarnation, as do the node's counters it feeds.
/// </summary>
public sealed class PubSubTally
{
    private readonly Dictionary<(string Channel, string Type), Kind> _kinds = [];

    /// <summary>Takes one copy; true when it is the first of a publication (count it), false for a copy of one
    /// already counted.</summary>
    public bool Observe(PubSubCopy copy)
    {
        if (copy.Replay) return false; // its publication was counted (or lost) with the first copies
        if (!_kinds.TryGetValue((copy.Channel, copy.MessageType), out var kind))
            _kinds[(copy.Channel, copy.MessageType)] = kind = new Kind();
        ref var fromNode = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(
            kind.ByNode, copy.Node, out _);
        fromNode++;
        if (fromNode <= kind.Publications) return false;
        kind.Publications = fromNode;
        return true;
    }

    /// <summary>The publications counted so far on <paramref name="channel"/> of <paramref name="messageType"/>.</summary>
    public long Publications(string channel, string messageType) =>
        _kinds.TryGetValue((channel, messageType), out var kind) ? kind.Publications : 0;

    private sealed class Kind
    {
        public readonly Dictionary<long, long> ByNode = [];
        public long Publications;
    }
}
