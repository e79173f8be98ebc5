using Akka.Cluster.Sharding;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Routes every allocator message to its entity: the queue name for <see cref="IWithQueueId"/>, the worker
/// name for <see cref="IWithWorkerId"/>; the shard is a hash of that id. The pub/sub intake asks it too, to know
/// which node takes a message (<see cref="Subscription.MessageOwnership.Takes"/>).
/// </summary>
/// <param name="maxShards">Shards per region; ten times the largest expected node count.</param>
public sealed class AllocatorMessageExtractor(int maxShards = 100) : HashCodeMessageExtractor(maxShards)
{
    /// <summary>Shard type name of the queue entities.</summary>
    public const string QueueTypeName = "allocator-queue";

    /// <summary>Shard type name of the worker entities.</summary>
    public const string WorkerTypeName = "allocator-worker";

    /// <inheritdoc />
    public override string? EntityId(object message) => message switch
    {
        IWithQueueId q => q.Queue,
        IWithWorkerId w => w.Worker,
        _ => null,
    };
}
