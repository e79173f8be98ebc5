using Akka.Actor;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Metrics;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// What a queue entity does to the world once one of its events is in the journal: the assignment published on the
/// worker's channel, the worker entity's bookkeeping, the counters and histograms, and the queue's gauges. Nothing
/// is decided here (the entity decided when it applied the event); this carries it out, in one place, and only
/// after the write (the entity's group commit runs it), so nothing leaves the entity that a crash could forget.
/// </summary>
/// <param name="queue">The queue.</param>
/// <param name="redis">Where assignments are published.</param>
/// <param name="metrics">The allocator's metrics.</param>
/// <param name="workers">The worker region.</param>
/// <param name="recorder">The metrics recorder (histograms).</param>
public sealed class QueueOutbox(string queue, IAllocatorRedis redis, AllocatorMetrics metrics,
    IActorRef workers, IActorRef recorder)
{
    /// <summary>A task was allocated: the worker entity hears of it before the worker can answer over Redis (its
    /// reports are routed by it; it also keeps early reports a moment, for the rare reply that wins the race), then
    /// the assignment goes out.</summary>
    /// <param name="allocation">The stored allocation.</param>
    /// <param name="assignment">The assignment's JSON bytes, written when it was decided.</param>
    /// <param name="waited">Seconds from the task's arrival to the allocation.</param>
    /// <param name="next">On the last allocation of a grant: what still waits for the worker here.</param>
    public void Allocated(TaskAllocated allocation, byte[] assignment, double waited, TaskOffer? next)
    {
        workers.Tell(new TaskAssignedToWorker(allocation.Worker, allocation.TaskId, queue, next));
        redis.PublishAssignment(allocation.Worker, assignment);
        metrics.CountAllocation(queue, allocation.Worker);
        recorder.Tell(new ObserveAllocation(queue, waited));
    }

    /// <summary>A worker's report changed the task: counted, its run time observed, and a task finished by a
    /// former holder frees the current holder's slot.</summary>
    /// <param name="stored">The event the report made.</param>
    /// <param name="report">The report.</param>
    /// <param name="taskName">The task's name (the label).</param>
    /// <param name="holder">The worker that held it when the report came, if any.</param>
    public void Progressed(IQueueEvent stored, ReportTaskProgress report, string taskName, string? holder)
    {
        if (report.Progress is TaskProgress.Started or TaskProgress.Succeeded or TaskProgress.Failed)
            metrics.CountTaskProgress(taskName, queue, report.Progress, report.Exception);
        if (report.Runtime is { } runtime) recorder.Tell(new ObserveTaskDuration(taskName, queue, runtime));
        if (stored is TaskSucceeded or TaskFailed && holder is not null && holder != report.Worker)
            workers.Tell(new TaskReleasedFromWorker(holder, report.TaskId, queue));
    }

    /// <summary>A task went back to the queue: counted, and with <paramref name="release"/> (an ack timeout; the
    /// worker still serves) its worker gets the slot back. A worker that left drops its tasks itself.</summary>
    public void Requeued(TaskRequeued requeued, bool release)
    {
        metrics.CountRequeue(queue);
        if (release) workers.Tell(new TaskReleasedFromWorker(requeued.Worker, requeued.TaskId, queue));
    }

    /// <summary>Sets the queue's gauges: on the sweep (at most a second old, well under any scrape interval) and on
    /// worker changes, not per task: two labelled gauge updates per message were a measurable share of a task's
    /// cost.</summary>
    public void Gauges(int pending, int consumers) => metrics.SetQueue(queue, pending, consumers);
}
