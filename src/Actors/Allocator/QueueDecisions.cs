using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>What became of a submitted task.</summary>
public enum SubmitOutcome
{
    /// <summary>New: accepted.</summary>
    Accepted,

    /// <summary>Its id is pending, in flight, or finished, and it is a publication of its own: ignored and counted.</summary>
    Duplicate,

    /// <summary>A replayed message of a task the queue knows (<see cref="IPubSubCommand.Replayed"/>): ignored, not
    /// counted, since it repeats a publication that was taken already.</summary>
    Known,
}

/// <summary>What a worker's report decides: an event to persist, or the reason it is ignored (or neither, for a
/// harmless repeat such as a second <c>received</c>).</summary>
/// <param name="Event">The event, or null.</param>
/// <param name="Ignored">The ignored-report reason (<see cref="IgnoredReport"/>), or null.</param>
public readonly record struct ReportDecision(IQueueEvent? Event, string? Ignored);
