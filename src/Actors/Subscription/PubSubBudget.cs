using Akka.Actor;
using Akka.Event;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Bounds the bytes of pub/sub messages handed to one actor and not handled yet. StackExchange.Redis reads a
/// subscription as fast as Redis sends and the actor's mailbox takes whatever it is told, so a burst faster
/// than the actor would otherwise sit in memory without limit (470 MiB on one node under 200,000 Celery events).
/// Past the budget a message is dropped and counted here; the actor takes the count with the next message it
/// handles (<see cref="Release"/>), which always comes, since a drop means the budget is full of messages on
/// their way. Shared by the feeds of one actor; thread-safe.
/// </summary>
public sealed class PubSubBudget
{
    /// <summary>The default budget: 64 MiB per subscribing actor.</summary>
    public const long DefaultBytes = 64L * 1024 * 1024;

    // What one message costs besides its payload: the record, the channel string, the array header.
    private const int Overhead = 160;

    private readonly string _subscription;
    private readonly string? _broker;
    private readonly long _maxBytes;
    private readonly LogThrottle _log = new(perSecond: 1);
    private readonly SemaphoreSlim _room = new(0); // an extra count only wakes the reader once more
    private long _held;
    private long _dropped;
    private int _waiting;

    /// <summary>Creates a budget of <paramref name="maxBytes"/>.</summary>
    /// <param name="subscription">Whose budget it is, as <see cref="PubSubMessagesDropped"/> names it.</param>
    /// <param name="maxBytes">Bytes held at most.</param>
    /// <param name="broker">The Celery broker whose events the budget holds, when the node watches several.</param>
    public PubSubBudget(string subscription, long maxBytes, string? broker = null)
    {
        _broker = broker;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        _subscription = subscription;
        _maxBytes = maxBytes;
    }

    /// <summary>Bytes held now (payloads plus an estimate of each message's overhead).</summary>
    public long HeldBytes => Interlocked.Read(ref _held);

    /// <summary>Takes room for a message of <paramref name="payloadBytes"/>; false, and the message counted as
    /// dropped, when there is none. A message is always taken when nothing is held, however large.</summary>
    public bool TryHold(int payloadBytes)
    {
        if (TryTake(payloadBytes + Overhead)) return true;
        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>Takes room for a message of <paramref name="payloadBytes"/>, waiting for the owner to handle what
    /// is held when there is none: flow control instead of a drop. A message is always taken when nothing is held.
    /// For one reader at a time (a feed reads its messages in order): a release wakes one waiter.</summary>
    public async ValueTask HoldAsync(int payloadBytes, CancellationToken cancellation)
    {
        var cost = payloadBytes + Overhead;
        while (!TryTake(cost))
        {
            // Announce the wait, then look again: a release between the two would otherwise go unheard.
            Volatile.Write(ref _waiting, 1);
            if (TryTake(cost))
            {
                Volatile.Write(ref _waiting, 0);
                return;
            }
            await _room.WaitAsync(cancellation).ConfigureAwait(false);
        }
    }

    private bool TryTake(long cost)
    {
        var held = Interlocked.Add(ref _held, cost);
        if (held <= _maxBytes || held == cost) return true;
        Interlocked.Add(ref _held, -cost);
        return false;
    }

    /// <summary>Gives back the room of a handled message; returns how many messages were dropped since the last
    /// call (0 almost always).</summary>
    public long Release(int payloadBytes)
    {
        Interlocked.Add(ref _held, -(payloadBytes + Overhead));
        if (Volatile.Read(ref _waiting) == 1 && Interlocked.Exchange(ref _waiting, 0) == 1) _room.Release();
        return Volatile.Read(ref _dropped) == 0 ? 0 : Interlocked.Exchange(ref _dropped, 0);
    }

    /// <summary>
    /// Gives back the room of <paramref name="message"/>, which the owner is handling; messages dropped since are
    /// told to <paramref name="recorder"/> (<see cref="PubSubMessagesDropped"/>) and logged, at most once a second.
    /// Called by the owning actor only.
    /// </summary>
    public void Handled(PubSubFeed.Message message, IActorRef recorder, ILoggingAdapter log)
    {
        var dropped = Release(message.Payload.Length);
        if (dropped == 0) return;
        recorder.Tell(new PubSubMessagesDropped(_subscription, dropped, _broker));
        if (_log.TryAcquire(out var unlogged))
            log.Warning("The {0} subscriber dropped {1} messages: it held {2} bytes not handled yet (MAX_BUFFERED_BYTES){3}",
                _subscription, dropped, _maxBytes, unlogged > 0 ? $"; {unlogged} more such reports not logged" : "");
    }
}
