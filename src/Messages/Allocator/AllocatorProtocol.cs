namespace CeleryActors.Messages.Allocator;

/// <summary>
/// Marker of every allocator message that crosses nodes or is persisted (commands, queries, replies, events,
/// snapshots). The host binds it to the allocator's string-manifest JSON serializer, never the default one.
/// </summary>
public interface IAllocatorProtocol;

/// <summary>A message for one queue entity; the queue name is the entity id.</summary>
public interface IWithQueueId
{
    /// <summary>The queue.</summary>
    string Queue { get; }
}

/// <summary>A message for one worker entity; the worker name is the entity id.</summary>
public interface IWithWorkerId
{
    /// <summary>The worker.</summary>
    string Worker { get; }
}

/// <summary>A command that producers and workers also send on Redis pub/sub, where one node takes each message.</summary>
public interface IPubSubCommand
{
    /// <summary>Taken again by the pub/sub intake after the nodes that take messages changed: it may repeat one
    /// already handled (the entity ignores what it knows, and counts nothing twice), and it is not news of the
    /// worker's liveness.</summary>
    bool Replayed { get; }
}

/// <summary>A command or query handled by a queue entity.</summary>
public interface IQueueCommand : IWithQueueId, IAllocatorProtocol;

/// <summary>A command or query handled by a worker entity.</summary>
public interface IWorkerCommand : IWithWorkerId, IAllocatorProtocol;

/// <summary>What a queue entity tells a worker entity in the slot protocol (offers, sync answers, assignments,
/// slots given back, tasks released): a worker that is not online takes none of it.</summary>
public interface IQueueToWorker : IWorkerCommand;

/// <summary>
/// A capability of a worker or a requirement of a task (SPEC §4.1): a number (met by a worker number greater
/// than or equal to it) or a string (met by an equal string). Exactly one of the two is set.
/// </summary>
/// <param name="Number">The numeric value, or null.</param>
/// <param name="Text">The string value, or null.</param>
public sealed record CapabilityValue(double? Number, string? Text)
{
    /// <summary>A numeric value.</summary>
    public static CapabilityValue Of(double number) => new(number, null);

    /// <summary>A string value.</summary>
    public static CapabilityValue Of(string text) => new(null, text);

    /// <summary>Whether this worker capability meets <paramref name="requirement"/>.</summary>
    public bool Meets(CapabilityValue requirement) =>
        requirement.Number is { } needed
            ? Number is { } have && have >= needed
            : Text is not null && string.Equals(Text, requirement.Text, StringComparison.Ordinal);
}

/// <summary>What a worker reported about a task on <c>task-status</c>.</summary>
public enum TaskProgress
{
    /// <summary>The worker got the assignment: the acknowledgement.</summary>
    Received,

    /// <summary>The worker started running it.</summary>
    Started,

    /// <summary>It finished normally.</summary>
    Succeeded,

    /// <summary>It raised an exception.</summary>
    Failed,
}
