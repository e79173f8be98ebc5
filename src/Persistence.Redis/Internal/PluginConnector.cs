using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>
/// The connection life of one plugin actor, shared by the journal and the snapshot store (their base classes
/// differ, so it is composed rather than inherited): the injected multiplexer when there is one, else the
/// actor's own, opened asynchronously while protocol messages wait in the stash.
/// </summary>
/// <param name="pluginName">How logs and errors name the plugin, e.g. "Redis journal".</param>
/// <param name="clientName">The Redis client name of an owned connection.</param>
/// <param name="settings">The plugin's settings.</param>
/// <param name="log">The actor's log.</param>
internal sealed class PluginConnector(string pluginName, string clientName, RedisPluginSettings settings, ILoggingAdapter log)
{
    /// <summary>The connection, once there is one.</summary>
    public PluginConnection? Connection { get; private set; }

    /// <summary>
    /// Takes the injected multiplexer (ready at once: returns true) or starts opening the actor's own and returns
    /// false; the actor then waits in <see cref="Waiting"/> until <see cref="PluginConnected"/> arrives.
    /// </summary>
    public bool Start(ActorSystem system, IActorRef self)
    {
        var injected = RedisPersistence.Get(system).Setup?.Multiplexer;
        if (injected is not null)
        {
            Connection = new PluginConnection(injected, owned: false, settings.Database);
            log.Info("{0} uses the injected multiplexer", pluginName);
            return true;
        }
        RedisConnector.ConnectAsync(settings, clientName)
            .PipeTo(self, success: m => new PluginConnected(m), failure: e => new PluginConnectFailed(e));
        return false;
    }

    /// <summary>The waiting behaviour: stashes every message until the connection is open.</summary>
    /// <param name="message">The message received.</param>
    /// <param name="stash">The actor's stash.</param>
    /// <param name="ready">Leaves the waiting behaviour (the actor's <c>UnbecomeStacked</c>).</param>
    public bool Waiting(object message, IStash stash, Action ready)
    {
        switch (message)
        {
            case PluginConnected c:
                Connection = new PluginConnection(c.Multiplexer, owned: true, settings.Database);
                // The endpoints only: the configuration string may carry the password.
                log.Info("{0} connected to {1} (connected now: {2})", pluginName,
                    string.Join(",", c.Multiplexer.GetEndPoints().Select(e => e.ToString())), c.Multiplexer.IsConnected);
                ready();
                stash.UnstashAll();
                return true;
            case PluginConnectFailed f:
                // Only a bad configuration gets here (abortConnect is off); restarting will not fix it, so say so.
                log.Error(f.Cause, "{0} cannot open its connection ({1})", pluginName, Redacted(settings.ConfigurationString));
                throw new ConfigurationException($"{pluginName} cannot connect: {f.Cause.Message}", f.Cause);
            default:
                stash.Stash();
                return true;
        }
    }

    // The configuration as StackExchange.Redis writes it without the password, for logs.
    private static string Redacted(string configuration)
    {
        try
        {
            return ConfigurationOptions.Parse(configuration).ToString(includePassword: false);
        }
        catch (ArgumentException)
        {
            return "(a configuration string that does not parse)";
        }
    }

    /// <summary>Disposes an owned connection; an injected one is left to its owner.</summary>
    public void Release()
    {
        Connection?.Release();
        Connection = null;
    }
}
