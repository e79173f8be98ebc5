using Akka.Actor;
using Akka.Event;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>Told to a plugin actor by itself when its own multiplexer is connected.</summary>
internal sealed record PluginConnected(IConnectionMultiplexer Multiplexer) : INoSerializationVerificationNeeded;

/// <summary>Told to a plugin actor by itself when opening its multiplexer failed (a bad configuration string).</summary>
internal sealed record PluginConnectFailed(Exception Cause) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

/// <summary>
/// The connection of one plugin actor: the injected multiplexer (never disposed here) or its own (disposed when
/// the actor stops).
/// </summary>
internal sealed class PluginConnection
{
    public PluginConnection(IConnectionMultiplexer multiplexer, bool owned, int database)
    {
        Multiplexer = multiplexer;
        Owned = owned;
        Database = multiplexer.GetDatabase(database);
    }

    public IConnectionMultiplexer Multiplexer { get; }

    public bool Owned { get; }

    public IDatabase Database { get; }

    public void Release()
    {
        if (Owned) Multiplexer.Dispose();
    }
}
