using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>A Celery broker the node monitors, which may be another Redis than the node's own.</summary>
/// <param name="Multiplexer">The open connection (owned by the host, which disposes it).</param>
/// <param name="Settings">How to monitor it; its <see cref="CeleryMonitorSettings.Broker"/> is the URL.</param>
public sealed record CeleryBrokerConnection(IConnectionMultiplexer Multiplexer, CeleryMonitorSettings Settings);
