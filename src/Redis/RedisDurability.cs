using StackExchange.Redis;

namespace CeleryActors.Redis;

/// <summary>
/// Whether a Redis keeps what the node writes: the allocator's journal and snapshots live there, and a Redis
/// without its append-only file, or one allowed to evict keys, loses events silently. Read from <c>INFO</c> (which
/// StackExchange.Redis counts as an admin command) on a short connection of its own.
/// </summary>
public static class RedisDurability
{
    /// <summary>What to warn about, each naming the Redis setting and what to change; empty when it keeps
    /// everything.</summary>
    /// <exception cref="RedisCredentialsRefusedException">Redis refused the user or password: no retry fixes that.</exception>
    public static async Task<IReadOnlyList<string>> WarningsAsync(RedisUrl url)
    {
        var options = url.ToConfigurationOptions();
        options.AllowAdmin = true;
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 3_000;
        string endpoint;
        Dictionary<string, string> info;
        try
        {
            await using var admin = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            var server = admin.GetServers()[0];
            endpoint = server.EndPoint.ToString() ?? "?";
            info = (await server.InfoAsync("persistence").ConfigureAwait(false))
                .Concat(await server.InfoAsync("memory").ConfigureAwait(false))
                .SelectMany(g => g).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().Value);
        }
        catch (RedisConnectionException e) when (e.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            throw new RedisCredentialsRefusedException(url);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // An ACL without INFO, or Redis not up yet: the node starts anyway, and says what it could not check.
            return [$"could not check the Redis persistence settings ({e.GetType().Name}); make sure appendonly is " +
                    "yes and maxmemory-policy is noeviction"];
        }
        var warnings = new List<string>();
        if (info.TryGetValue("aof_enabled", out var aof) && aof != "1")
            warnings.Add($"Redis at {endpoint} has appendonly off: a restart loses the allocator's journal since the " +
                         "last RDB save; set 'appendonly yes' (redis.conf, or CONFIG SET appendonly yes)");
        if (info.TryGetValue("maxmemory_policy", out var policy) && policy != "noeviction")
            warnings.Add($"Redis at {endpoint} has maxmemory-policy {policy}: under memory pressure it may evict " +
                         "journal keys; set 'maxmemory-policy noeviction'");
        return warnings;
    }
}

/// <summary>Redis refused the credentials of <c>REDIS_URL</c> (a wrong user or password).</summary>
public sealed class RedisCredentialsRefusedException(RedisUrl url)
    : InvalidOperationException($"Redis at {url.Host}:{url.Port} refused the user or password");
