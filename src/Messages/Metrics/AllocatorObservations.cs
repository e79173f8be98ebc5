namespace CeleryActors.Messages.Metrics;

/// <summary>
/// Observe one allocation's duration, from the task's arrival to its allocation, into
/// <c>celery_task_allocation_duration_seconds{queue}</c> through the observation pipeline.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="Seconds">Arrival to allocation, never negative.</param>
public sealed record ObserveAllocation(string Queue, double Seconds);

/// <summary>Observe a task's execution time reported by an allocator worker into
/// <c>celery_task_duration_seconds{task_name, queue}</c> through the observation pipeline.</summary>
/// <param name="TaskName">The task's name.</param>
/// <param name="Queue">The queue.</param>
/// <param name="Seconds">The runtime the worker reported.</param>
/// <param name="Broker">The Celery broker the task ran on, when the node watches several; null otherwise.</param>
public sealed record ObserveTaskDuration(string TaskName, string Queue, double Seconds, string? Broker = null);

/// <summary>Observe the publish-to-handled latency of a pub/sub message already counted by its receiver into
/// <c>celery_redis_pubsub_latency_seconds{channel}</c> through the observation pipeline.</summary>
/// <param name="Channel">The channel.</param>
/// <param name="Seconds">The latency, never negative.</param>
public sealed record ObservePubSubLatency(string Channel, double Seconds);

/// <summary>Observe how long a Celery task waited in its queue, from <c>task-sent</c> (else <c>task-received</c>)
/// to <c>task-started</c>, less any ETA or countdown delay, into <c>celery_task_queue_wait_seconds{task_name,
/// queue}</c> through the observation pipeline.</summary>
/// <param name="TaskName">The task's name (its bounded label value).</param>
/// <param name="Queue">The queue (its bounded label value).</param>
/// <param name="Seconds">The wait, never negative.</param>
/// <param name="Broker">The Celery broker, when the node watches several; null otherwise.</param>
public sealed record ObserveQueueWait(string TaskName, string Queue, double Seconds, string? Broker = null);
