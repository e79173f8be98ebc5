using Akka.Cluster.Sharding;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Routes every allocator message to its entity: the queue name for <see cref="IWithQueueId"/>, the worker
/// name for <see cref="IWithWorkerId"/>; the shard is a hash of that id.
/// </summary>
/// <param name="maxShards">Shards per region; ten times the largest expected node count.</param>
public sealed class AllocatorMessageExtractor(int maxShards = 100) : HashCodeMessageExtractor(maxShards)
{
    /// <inheritdoc />
    public override string? EntityId(object message) => message switch
    {
        IWithQueueId q => q.Queue,
        IWithWorkerId w => w.Worker,
        _ => null,
    };
}
