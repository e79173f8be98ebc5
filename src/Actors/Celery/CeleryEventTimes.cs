using CeleryActors.Actors.Subscription;

namespace CeleryActors.Actors.Celery;

/// <summary>The durations the Celery monitor reads from event timestamps, which are the clocks of producers and
/// workers, not the node's.</summary>
public static class CeleryEventTimes
{
    // From when the task was queued (sent, else received) to its start, less the time it was not due yet. Sent is the
    // producer's clock and started the worker's: a start before the queueing is a clock apart, not a wait. A start a
    // moment before its ETA is the worker's timer firing early: no wait.
    /// <summary>How long a started task waited in its queue, or null when that cannot be told.</summary>
    public static double? QueueWait(CeleryTaskEvent started, RememberedTask? task)
    {
        if (task is not { QueuedAt: > 0 and var queuedAt } || started.Timestamp < queuedAt) return null;
        var wait = Math.Max(0, started.Timestamp - Math.Max(queuedAt, task.Eta ?? 0));
        return WireLimits.Duration("queue wait", wait) is null ? wait : null;
    }

    /// <summary>Publish-to-handled latency by the sender's clock (the first event's timestamp).</summary>
    public static double? Latency(CeleryEventBatch batch)
    {
        var sent = batch.Events.Count == 0 ? 0 : batch.Events[0] switch
        {
            CeleryTaskEvent t => t.Timestamp,
            CeleryWorkerEvent w => w.Timestamp,
            _ => 0,
        };
        if (sent <= 0) return null;
        var latency = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - sent;
        return latency >= 0 ? latency : null;
    }
}
