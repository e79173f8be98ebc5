using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The newest commands a node forwarded from pub/sub (tasks and status reports), kept for a short window so they
/// can be sent again when another node leaves the cluster: the copies every node sent to an entity on a node
/// that was dying are lost, and the entity that starts in its place takes the replayed ones it does not know.
/// A ring of at most <c>capacity</c> entries; older ones fall out.
/// </summary>
public sealed class RecentCopies
{
    private readonly (long At, IPubSubCommand Command)[] _ring;
    private readonly long _windowMs;
    private int _next, _count;

    /// <summary>Creates an empty ring.</summary>
    /// <param name="capacity">Entries kept at most.</param>
    /// <param name="window">Entries older than this are not replayed.</param>
    public RecentCopies(int capacity, TimeSpan window)
    {
        _ring = new (long, IPubSubCommand)[Math.Max(1, capacity)];
        _windowMs = (long)window.TotalMilliseconds;
    }

    /// <summary>Entries held now.</summary>
    public int Count => _count;

    /// <summary>Keeps <paramref name="command"/>, forwarded at <paramref name="nowMs"/> (a monotonic clock).</summary>
    public void Add(IPubSubCommand command, long nowMs)
    {
        _ring[_next] = (nowMs, command);
        _next = (_next + 1) % _ring.Length;
        if (_count < _ring.Length) _count++;
    }

    /// <summary>The entries of the window ending at <paramref name="nowMs"/>, oldest first.</summary>
    public IEnumerable<IPubSubCommand> Within(long nowMs)
    {
        for (var i = 0; i < _count; i++)
        {
            var (at, command) = _ring[(_next - _count + i + _ring.Length) % _ring.Length];
            if (nowMs - at <= _windowMs) yield return command;
        }
    }
}
