using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The raw allocator messages a node heard on pub/sub in the last moments, whichever node took them, so that they
/// can be taken again when the takers change (<see cref="Subscription.MessageOwnership.Changed"/>): a message
/// heard while the nodes disagreed on the members may have been taken by none, and one sent to an entity on a
/// node that died is lost with it. Bounded two ways: entries older than the window are dropped, and at most
/// <c>budgetBytes</c> are held (the oldest go first). Each entry is counted at its payload plus a fixed overhead,
/// so a flood of tiny messages is bounded too.
/// </summary>
public sealed class RecentMessages
{
    /// <summary>What an entry costs beyond its payload (the entry, its array header, the channel reference).</summary>
    public const int EntryOverheadBytes = 96;

    private readonly Queue<Entry> _entries = new();
    private readonly long _budgetBytes;
    private readonly long _windowMs;
    private long _bytes;

    /// <summary>Creates an empty store.</summary>
    /// <param name="budgetBytes">Bytes held at most.</param>
    /// <param name="window">Entries older than this are dropped and never taken again.</param>
    public RecentMessages(long budgetBytes, TimeSpan window)
    {
        _budgetBytes = Math.Max(1, budgetBytes);
        _windowMs = (long)window.TotalMilliseconds;
    }

    /// <summary>Entries held now.</summary>
    public int Count => _entries.Count;

    /// <summary>Bytes held now, overhead included.</summary>
    public long Bytes => _bytes;

    /// <summary>Keeps <paramref name="entry"/> and drops what the window and the budget no longer hold.</summary>
    public void Add(Entry entry)
    {
        _entries.Enqueue(entry);
        _bytes += Cost(entry);
        Trim(entry.AtMs);
    }

    /// <summary>Drops the entries older than the window at <paramref name="nowMs"/> (monotonic), and the oldest over
    /// the budget.</summary>
    public void Trim(long nowMs)
    {
        while (_entries.TryPeek(out var oldest) && (_bytes > _budgetBytes || nowMs - oldest.AtMs > _windowMs))
            _bytes -= Cost(_entries.Dequeue());
    }

    /// <summary>
    /// The entries of the window ending at <paramref name="nowMs"/> that this node should take again, oldest first,
    /// each marked taken as it is returned: those of the shards <paramref name="takesNow"/> says are this node's,
    /// that it did not take when they came - or, with <paramref name="evenTaken"/> (a downed member is gone, and
    /// what this node sent to its entities may be lost with it), also those it did.
    /// </summary>
    public IEnumerable<Entry> ToTakeAgain(long nowMs, Func<Entry, bool> takesNow, bool evenTaken)
    {
        Trim(nowMs);
        foreach (var entry in _entries)
        {
            if ((entry.Taken && !evenTaken) || !takesNow(entry)) continue;
            entry.Taken = true;
            yield return entry;
        }
    }

    private static long Cost(Entry entry) => entry.Payload.Length + EntryOverheadBytes;

    /// <summary>One message as it was heard.</summary>
    /// <param name="AtMs">When it came (monotonic ms).</param>
    /// <param name="ArrivedAt">When it came (Unix seconds): a task taken again keeps its arrival time.</param>
    /// <param name="Kind">The kind of its channel.</param>
    /// <param name="Channel">Its channel.</param>
    /// <param name="Payload">Its bytes.</param>
    /// <param name="TypeName">The shard type of the entity it is for (a queue or a worker).</param>
    /// <param name="Shard">The shard of the entity it is for.</param>
    public sealed record Entry(long AtMs, double ArrivedAt, ChannelKind Kind, string Channel, ReadOnlyMemory<byte> Payload,
        string TypeName, string Shard)
    {
        /// <summary>Whether this node took it (when it came, or again since).</summary>
        public bool Taken { get; set; }
    }
}
