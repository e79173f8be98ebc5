namespace CeleryActors.Actors.Celery;

/// <summary>The task event types a Celery worker or producer sends.</summary>
public enum CeleryTaskEventType
{
    /// <summary><c>task-sent</c>: a producer published the task (only with <c>task_send_sent_event</c>).</summary>
    Sent,

    /// <summary><c>task-received</c>: a worker took the task from its queue.</summary>
    Received,

    /// <summary><c>task-started</c>: the task began executing.</summary>
    Started,

    /// <summary><c>task-succeeded</c>: the task returned.</summary>
    Succeeded,

    /// <summary><c>task-failed</c>: the task raised.</summary>
    Failed,

    /// <summary><c>task-retried</c>: the task raised Retry and will run again.</summary>
    Retried,

    /// <summary><c>task-rejected</c>: the worker rejected the message.</summary>
    Rejected,

    /// <summary><c>task-revoked</c>: the task was revoked.</summary>
    Revoked,
}

/// <summary>The worker event types.</summary>
public enum CeleryWorkerEventType
{
    /// <summary><c>worker-online</c>.</summary>
    Online,

    /// <summary><c>worker-heartbeat</c>.</summary>
    Heartbeat,

    /// <summary><c>worker-offline</c>: a clean shutdown (a killed worker sends nothing).</summary>
    Offline,
}

/// <summary>Marker of the events decoded from Celery's event channels.</summary>
public interface ICeleryEvent
{
    /// <summary>The sender's <c>hostname</c> (<c>name@host</c>), the worker identity.</summary>
    string Hostname { get; }
}

/// <summary>One task event, decoded from the broker.</summary>
/// <param name="Type">The event type.</param>
/// <param name="TaskId">The task's <c>uuid</c>.</param>
/// <param name="Hostname">The sender (worker, or producer for <c>task-sent</c>).</param>
/// <param name="Timestamp">The sender's clock, Unix seconds.</param>
/// <param name="Name">The task name, on <c>task-sent</c> and <c>task-received</c> only.</param>
/// <param name="Queue">The queue, on <c>task-sent</c> only.</param>
/// <param name="Runtime">Execution time in seconds, on <c>task-succeeded</c>.</param>
/// <param name="Exception">The exception type (parsed out of the repr), on <c>task-failed</c> and <c>task-retried</c>.</param>
/// <param name="Eta">When the task was due to run (its ETA or countdown), Unix seconds, when sent or received
/// with one.</param>
public sealed record CeleryTaskEvent(
    CeleryTaskEventType Type,
    string TaskId,
    string Hostname,
    double Timestamp,
    string? Name = null,
    string? Queue = null,
    double? Runtime = null,
    string? Exception = null,
    double? Eta = null) : ICeleryEvent;

/// <summary>One worker event, decoded from the broker.</summary>
/// <param name="Type">The event type.</param>
/// <param name="Hostname">The worker (<c>name@host</c>).</param>
/// <param name="Timestamp">The worker's clock, Unix seconds.</param>
/// <param name="Active">Tasks running now, when the event says.</param>
/// <param name="Processed">The worker's running count of tasks it started, when the event says.</param>
public sealed record CeleryWorkerEvent(
    CeleryWorkerEventType Type,
    string Hostname,
    double Timestamp,
    int? Active = null,
    long? Processed = null) : ICeleryEvent;

/// <summary>What remote control told about one worker in one poll.</summary>
/// <param name="Worker">The worker (<c>name@host</c>).</param>
/// <param name="PoolSize">Pool capacity from <c>stats</c>, when it answered.</param>
/// <param name="Active">Running tasks from <c>active</c>, when it answered.</param>
/// <param name="Reserved">Prefetched, not started tasks from <c>reserved</c>, when it answered.</param>
/// <param name="Queues">Queues consumed from <c>active_queues</c>, when it answered.</param>
/// <param name="TaskQueues">Task id → queue (routing key) of the active and reserved tasks.</param>
public sealed record CeleryWorkerInspected(
    string Worker,
    int? PoolSize,
    int? Active,
    int? Reserved,
    IReadOnlyList<string>? Queues,
    IReadOnlyDictionary<string, string> TaskQueues);

/// <summary>Queues learned of from events or remote control, for the queue-length poller.</summary>
/// <param name="Queues">Queue names.</param>
public sealed record CeleryQueuesDiscovered(IReadOnlyCollection<string> Queues);

/// <summary>How many workers consume each queue, as one remote-control round found (queues absent: none).</summary>
/// <param name="Consumers">Queue → workers consuming it.</param>
public sealed record CeleryQueueConsumersObserved(IReadOnlyDictionary<string, int> Consumers);
