namespace CeleryActors.Messages.Metrics;

/// <summary>Marker for the commands of the seed's library API that feed the Prometheus metrics.</summary>
public interface IMetricsCommand;

/// <summary>How a tracked task execution ended.</summary>
public enum TaskOutcome
{
    /// <summary>The task returned normally.</summary>
    Success,

    /// <summary>The task raised an exception.</summary>
    Failure,
}

/// <summary>
/// Track one task execution: counts one start, one success or one failure (by exception type), and observes
/// the duration (wire type <c>task_execution</c>).
/// </summary>
/// <param name="TaskName">The task's name, e.g. <c>shop.charge</c>.</param>
/// <param name="Queue">The queue the task ran from.</param>
/// <param name="DurationSeconds">Execution time in seconds, never negative.</param>
/// <param name="Outcome">Success or failure.</param>
/// <param name="Exception">The exception type on failure; null on success.</param>
public sealed record TrackTaskExecution(
    string TaskName,
    string Queue,
    double DurationSeconds,
    TaskOutcome Outcome,
    string? Exception = null) : IMetricsCommand;

/// <summary>Set the number of tasks waiting in a queue (wire type <c>queue_length</c>).</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Length">Tasks waiting, never negative.</param>
public sealed record UpdateQueueLength(string Queue, long Length) : IMetricsCommand;

/// <summary>
/// Track one pub/sub message handled elsewhere: counts it by channel and message type and observes its
/// publish-to-handled latency (wire type <c>pubsub_message</c>).
/// </summary>
/// <param name="Channel">The channel the message travelled on.</param>
/// <param name="MessageType">The kind of message.</param>
/// <param name="LatencySeconds">Publish-to-handled latency in seconds, never negative.</param>
public sealed record TrackPubSubMessage(string Channel, string MessageType, double LatencySeconds) : IMetricsCommand;
