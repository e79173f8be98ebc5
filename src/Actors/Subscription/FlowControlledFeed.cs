using Akka.Actor;
using CeleryActors.Redis;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Connects a <see cref="FlowControlledSubscription"/> to an actor with the messages of <see cref="PubSubFeed"/>,
/// so the actor's states stay as they are. Unlike <see cref="PubSubFeed"/>, a full <see cref="PubSubBudget"/>
/// does not drop: the feed stops reading until the owner has handled enough (<see cref="PubSubBudget.Handled"/>),
/// and Redis holds the rest. Owned by one actor: start it in <c>PreStart</c>, dispose it in <c>PostStop</c>.
/// </summary>
public sealed class FlowControlledFeed : IPubSubHandler, IDisposable
{
    /// <summary>The most a flow-controlled feed reads ahead of its owner. With flow control, holding more only moves
    /// a backlog from Redis into the node's heap, where it survives into older GC generations and costs time: on the
    /// 149 MiB burst a 64 MiB window drained 90,000-110,000 events/s at 317-351 MiB of RSS, an 8 MiB one
    /// 146,000-147,000 events/s at 178-186 MiB.</summary>
    public const long WindowBytes = 8L * 1024 * 1024;

    private readonly string _pattern;
    private readonly IActorRef _owner;
    private readonly PubSubBudget _budget;
    private FlowControlledSubscription? _subscription;

    private FlowControlledFeed(string pattern, IActorRef owner, PubSubBudget budget)
    {
        _pattern = pattern;
        _owner = owner;
        _budget = budget;
    }

    /// <summary>Subscribes to <paramref name="pattern"/> on <paramref name="url"/> and reports to
    /// <paramref name="owner"/>: <see cref="PubSubFeed.Established"/> or <see cref="PubSubFeed.Failed"/>, then
    /// messages, <see cref="PubSubFeed.Interrupted"/> and <see cref="PubSubFeed.Restored"/>.</summary>
    public static FlowControlledFeed Start(RedisUrl url, string pattern, IActorRef owner, PubSubBudget budget)
    {
        var feed = new FlowControlledFeed(pattern, owner, budget);
        feed._subscription = FlowControlledSubscription.Start(url, pattern, feed);
        return feed;
    }

    /// <inheritdoc />
    public void Subscribed(bool restored)
    {
        if (restored) _owner.Tell(PubSubFeed.Restored.Instance);
        else _owner.Tell(new PubSubFeed.Established(_pattern));
    }

    /// <inheritdoc />
    public async ValueTask Received(string channel, byte[] payload, CancellationToken cancellation)
    {
        await _budget.HoldAsync(payload.Length, cancellation).ConfigureAwait(false);
        _owner.Tell(new PubSubFeed.Message(channel, payload));
    }

    /// <inheritdoc />
    public void Interrupted(string detail) => _owner.Tell(new PubSubFeed.Interrupted(detail));

    /// <inheritdoc />
    public void Failed(Exception cause) => _owner.Tell(new PubSubFeed.Failed(_pattern, cause));

    /// <summary>Unsubscribes (closes the connection) in the background; the owner hears nothing more that matters.</summary>
    public void Dispose() => _ = _subscription?.DisposeAsync().AsTask();
}
