using Akka.Actor;
using StackExchange.Redis;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Connects a Redis pub/sub subscription to an actor: every message becomes a <see cref="Message"/> to the
/// actor, in the order Redis delivered them, and the subscription's life (made, failed, connection lost,
/// restored) becomes the other nested messages. The actor keeps its own states; this only wires. Owned by one
/// actor: start it in <c>PreStart</c>, dispose it in <c>PostStop</c>.
/// </summary>
public sealed class PubSubFeed : IDisposable
{
    private readonly IConnectionMultiplexer _redis;
    private readonly IActorRef _owner;
    private readonly EventHandler<ConnectionFailedEventArgs> _onFailed;
    private readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    private readonly object _events = new();
    private bool _down;
    private int _lateFailures;
    private ChannelMessageQueue? _queue;
    private int _disposed;

    private PubSubFeed(IConnectionMultiplexer redis, IActorRef owner)
    {
        _redis = redis;
        _owner = owner;
        _onFailed = (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription) ConnectionFailed(e.FailureType + ": " + e.Exception?.Message);
        };
        _onRestored = (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription) ConnectionRestored();
        };
        redis.ConnectionFailed += _onFailed;
        redis.ConnectionRestored += _onRestored;
    }

    /// <summary>
    /// Subscribes to <paramref name="channel"/> (a literal channel or a pattern) and reports to
    /// <paramref name="owner"/>: <see cref="Established"/> or <see cref="Failed"/>, then messages, as long as
    /// <paramref name="budget"/> has room for them (the owner gives it back as it handles each).
    /// </summary>
    public static PubSubFeed Start(IConnectionMultiplexer redis, RedisChannel channel, IActorRef owner, PubSubBudget budget)
    {
        var feed = new PubSubFeed(redis, owner);
        redis.GetSubscriber().SubscribeAsync(channel).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully)
            {
                Volatile.Write(ref feed._queue, t.Result);
                // The owner may have stopped during the round trip: then nobody else will unsubscribe.
                if (Volatile.Read(ref feed._disposed) == 1)
                {
                    feed.Unsubscribe();
                    return;
                }
                // Told before the first message, so the owner is in its listening state when messages come.
                owner.Tell(new Established(channel.ToString()));
                // Sequential delivery in Redis's order; the owner's mailbox takes it from here.
                var names = new ChannelNameCache(channel);
                t.Result.OnMessage(m =>
                {
                    var payload = (ReadOnlyMemory<byte>)m.Message;
                    if (budget.TryHold(payload.Length)) owner.Tell(new Message(names.Of(m.Channel), payload));
                });
            }
            else
            {
                owner.Tell(new Failed(channel.ToString(), t.Exception?.GetBaseException() ?? new TaskCanceledException()));
            }
        }, TaskScheduler.Default);
        return feed;
    }

    // A channel's name as a string was an allocation per message. A literal subscription hears only its own channel;
    // a pattern's few channels are kept (up to a bound, past which names are made per message again). Used by the
    // feed's one sequential loop only.
    private sealed class ChannelNameCache(RedisChannel subscribed)
    {
        private const int MaxNames = 1024;
        private readonly string _subscribed = subscribed.ToString();
        private readonly Dictionary<RedisChannel, string>? _names = subscribed.IsPattern ? new() : null;

        public string Of(RedisChannel channel)
        {
            if (_names is null) return _subscribed;
            if (_names.TryGetValue(channel, out var name)) return name;
            name = channel.ToString();
            if (_names.Count < MaxNames) _names[channel] = name;
            return name;
        }
    }

    // StackExchange.Redis raises its connection events on the thread pool, so a restore can be seen before the
    // failure it ends: the owner would then wait for ever in its interrupted state. The feed puts them in order.
    private void ConnectionFailed(string detail)
    {
        lock (_events)
        {
            if (_lateFailures > 0)
            {
                _lateFailures--; // its restore came first, and the owner was told both
                return;
            }
            _down = true;
            _owner.Tell(new Interrupted(detail));
        }
    }

    private void ConnectionRestored()
    {
        lock (_events)
        {
            if (!_down)
            {
                _lateFailures++;
                _owner.Tell(new Interrupted("connection lost (reported after it was restored)"));
            }
            _down = false;
            _owner.Tell(Restored.Instance);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _redis.ConnectionFailed -= _onFailed;
        _redis.ConnectionRestored -= _onRestored;
        Unsubscribe();
    }

    // Called by Dispose and by a subscription that completes after it; unsubscribing twice is harmless.
    private void Unsubscribe()
    {
        try
        {
            Volatile.Read(ref _queue)?.Unsubscribe(CommandFlags.FireAndForget);
        }
        catch (ObjectDisposedException)
        {
            // The connection's owner closed it first (shutdown order): the subscription went with it.
        }
    }

    /// <summary>One pub/sub message.</summary>
    /// <param name="Channel">The channel it was published on.</param>
    /// <param name="Payload">Its bytes.</param>
    public sealed record Message(string Channel, ReadOnlyMemory<byte> Payload) : INoSerializationVerificationNeeded;

    /// <summary>Redis confirmed the subscription.</summary>
    /// <param name="Channel">The channel or pattern.</param>
    public sealed record Established(string Channel) : INoSerializationVerificationNeeded;

    /// <summary>The subscription could not be made.</summary>
    /// <param name="Channel">The channel or pattern.</param>
    /// <param name="Cause">Why.</param>
    public sealed record Failed(string Channel, Exception Cause) : INoSerializationVerificationNeeded;

    /// <summary>The subscription connection was lost; StackExchange.Redis reconnects with back-off.</summary>
    /// <param name="Detail">What failed.</param>
    public sealed record Interrupted(string Detail) : INoSerializationVerificationNeeded;

    /// <summary>The subscription connection is back and the subscription restored.</summary>
    public sealed record Restored : INoSerializationVerificationNeeded
    {
        /// <summary>The one instance.</summary>
        public static readonly Restored Instance = new();
    }
}
