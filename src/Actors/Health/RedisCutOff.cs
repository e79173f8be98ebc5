namespace CeleryActors.Actors.Health;

/// <summary>
/// Tells the process that runs the node that its actor system left the cluster because Redis was out of reach
/// for too long (<see cref="NodeHealthActor"/>), and which members it knew then: the node starts a new actor
/// system once Redis answers again, seeded with them, and joins the cluster again. Set once, from the health
/// actor; read by the process after the actor system has terminated.
/// </summary>
public sealed class RedisCutOff
{
    private volatile IReadOnlyList<string>? _members;

    /// <summary>Whether the node left because of Redis.</summary>
    public bool Happened => _members is not null;

    /// <summary>The addresses of the other members it knew when it left (empty when none, or not left).</summary>
    public IReadOnlyList<string> Members => _members ?? [];

    /// <summary>Notes that the node leaves, and the other members it knows.</summary>
    public void Leaving(IReadOnlyList<string> otherMembers) => _members = otherMembers;
}
