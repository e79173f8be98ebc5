using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>The node's connection to the Celery broker, which may be another Redis than the node's own.</summary>
/// <param name="Multiplexer">The open connection (owned by the host, which disposes it).</param>
/// <param name="Url">The broker's URL.</param>
public sealed record CeleryBrokerConnection(IConnectionMultiplexer Multiplexer, RedisUrl Url);
