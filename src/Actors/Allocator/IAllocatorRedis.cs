namespace CeleryActors.Actors.Allocator;

/// <summary>
/// What the allocator's entities do on Redis besides their journal: publish assignments on the workers' channels,
/// keep the cluster-wide cap on queues (<c>ALLOCATOR_MAX_QUEUES</c>), and list the known queues and workers. The
/// node's is <see cref="AllocatorRedis"/>; an entity's spec gives it one that tells a probe.
/// </summary>
public interface IAllocatorRedis
{
    /// <summary>Publishes an assignment's JSON on <paramref name="worker"/>'s channel (fire and forget).</summary>
    void PublishAssignment(string worker, byte[] assignment);

    /// <summary>Whether <paramref name="queue"/> has a place among the cluster's queues: it had one, or it gets one
    /// while they are fewer than <paramref name="maxQueues"/>. One decision for the whole cluster.</summary>
    Task<bool> AdmitQueueAsync(string queue, int maxQueues);

    /// <summary>Lists a queue that has events (over the cap if need be, since its tasks are stored).</summary>
    void ListQueue(string queue);

    /// <summary>Lists a registered worker.</summary>
    void ListWorker(string worker);
}
