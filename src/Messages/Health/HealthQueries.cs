namespace CeleryActors.Messages.Health;

/// <summary>Asks the node's health monitor whether the node can serve (reply: <see cref="NodeHealth"/>).</summary>
public sealed record GetNodeHealth
{
    /// <summary>The one instance; the query carries no data.</summary>
    public static readonly GetNodeHealth Instance = new();
}

/// <summary>The node's readiness and its parts.</summary>
/// <param name="ClusterMember">The node is an Up member of its cluster.</param>
/// <param name="RedisConnected">The last probe of Redis succeeded.</param>
/// <param name="Detail">A short explanation when not ready.</param>
/// <param name="UpMembers">The Up members of the cluster as this node sees them (itself included).</param>
/// <param name="UnreachableMembers">The members this node cannot reach now.</param>
public sealed record NodeHealth(bool ClusterMember, bool RedisConnected, string Detail, int UpMembers = 0,
    int UnreachableMembers = 0)
{
    /// <summary>Ready to serve: in the cluster and connected to Redis.</summary>
    public bool Ready => ClusterMember && RedisConnected;
}
