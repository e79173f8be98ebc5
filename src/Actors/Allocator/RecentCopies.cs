using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The newest commands a node forwarded from pub/sub (tasks, status reports, registrations), kept for a short
/// window so they can be sent again when another node leaves the cluster: the copies every node sent to an entity
/// on a node that was dying are lost, and the entity that starts in its place takes the replayed ones it does not
/// know. Bounded three ways: entries older than the window are dropped as new ones come, and at most
/// <c>capacity</c> entries and <c>budgetBytes</c> payload bytes are held (the oldest go first).
/// </summary>
public sealed class RecentCopies
{
    private readonly Queue<(long At, int Bytes, IPubSubCommand Command)> _entries = new();
    private readonly int _capacity;
    private readonly long _budgetBytes;
    private readonly long _windowMs;
    private long _bytes;

    /// <summary>Creates an empty store.</summary>
    /// <param name="capacity">Entries kept at most.</param>
    /// <param name="budgetBytes">Payload bytes kept at most.</param>
    /// <param name="window">Entries older than this are dropped and not replayed.</param>
    public RecentCopies(int capacity, long budgetBytes, TimeSpan window)
    {
        _capacity = Math.Max(1, capacity);
        _budgetBytes = Math.Max(1, budgetBytes);
        _windowMs = (long)window.TotalMilliseconds;
    }

    /// <summary>Entries held now.</summary>
    public int Count => _entries.Count;

    /// <summary>Payload bytes held now.</summary>
    public long Bytes => _bytes;

    /// <summary>Keeps <paramref name="command"/>, whose payload had <paramref name="bytes"/> bytes, forwarded at
    /// <paramref name="nowMs"/> (a monotonic clock).</summary>
    public void Add(IPubSubCommand command, int bytes, long nowMs)
    {
        _entries.Enqueue((nowMs, bytes, command));
        _bytes += bytes;
        while (_entries.Count > 0 &&
               (_entries.Count > _capacity || _bytes > _budgetBytes || nowMs - _entries.Peek().At > _windowMs))
            _bytes -= _entries.Dequeue().Bytes;
    }

    /// <summary>The entries of the window ending at <paramref name="nowMs"/>, oldest first.</summary>
    public IEnumerable<IPubSubCommand> Within(long nowMs)
    {
        foreach (var (at, _, command) in _entries)
            if (nowMs - at <= _windowMs) yield return command;
    }
}
