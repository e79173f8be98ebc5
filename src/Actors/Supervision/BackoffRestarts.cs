using Akka.Actor;
using Akka.Pattern;

namespace CeleryActors.Actors.Supervision;

/// <summary>
/// The two back-off supervisors of the node, shared by both features: 0.5 s doubling to 30 s, with jitter, reset
/// after a minute of calm, never giving up.
/// </summary>
public static class BackoffRestarts
{
    /// <summary>
    /// Wraps <paramref name="child"/> so that a child that fails (a lost Redis connection, a journal write that
    /// failed) is started again after the back-off, while the rest of the node keeps running.
    /// </summary>
    public static Props OnFailure(Props child, string childName) =>
        BackoffSupervisor.Props(Backoff.OnFailure(child, childName,
                TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), 0.2, maxNrOfRetries: -1)
            .WithAutoReset(TimeSpan.FromSeconds(60)));

    /// <summary>
    /// Wraps an entity so that it is started again when it stops: a persistent actor stops when a journal write
    /// fails, and a queue must come back by itself (recovering from the journal) to watch its ack deadlines, not
    /// wait for its next message. A stop through the shard (hand-off, PoisonPill) stops the supervisor itself.
    /// </summary>
    public static Props OnStop(Props entity, string childName) =>
        BackoffSupervisor.Props(Backoff.OnStop(entity, childName, TimeSpan.FromMilliseconds(500),
                TimeSpan.FromSeconds(30), 0.2, maxNrOfRetries: -1)
            .WithAutoReset(TimeSpan.FromSeconds(60)));
}
