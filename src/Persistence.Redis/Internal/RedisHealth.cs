using Akka.Persistence;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>A PING-based health check shared by the journal and the snapshot store.</summary>
internal static class RedisHealth
{
    public static async Task<PersistenceHealthCheckResult> PingAsync(PluginConnection? connection, string plugin)
    {
        if (connection is null)
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Degraded, $"Redis {plugin} is still connecting");
        try
        {
            var latency = await connection.Database.PingAsync().ConfigureAwait(false);
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Healthy,
                $"Redis {plugin} reached Redis in {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e)
        {
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Unhealthy,
                $"Redis {plugin} cannot reach Redis: {e.Message}", e);
        }
    }
}
