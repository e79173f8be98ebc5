using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>Opens the multiplexer a plugin owns when none was injected.</summary>
internal static class RedisConnector
{
    /// <summary>
    /// Connects asynchronously. abortConnect is forced off so the plugin starts while Redis is down, and the
    /// backlog policy is fail-fast: a command issued during an outage fails at once (so the write fails and the
    /// circuit breaker sees it) instead of waiting in a client-side queue and maybe running after it was reported
    /// as failed.
    /// </summary>
    public static Task<ConnectionMultiplexer> ConnectAsync(RedisPluginSettings settings, string clientName)
    {
        var options = ConfigurationOptions.Parse(settings.ConfigurationString);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ClientName ??= clientName;
        return ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <summary>A sorted-set score for a sequence-number bound; beyond 2^53 a double is no longer exact.</summary>
    public static double Score(long sequenceNr) => sequenceNr >= (1L << 53) ? double.PositiveInfinity : sequenceNr;

    /// <summary>The same bound as text for ZRANGEBYSCORE inside Lua.</summary>
    public static string ScoreText(long sequenceNr) =>
        sequenceNr >= (1L << 53) ? "+inf" : sequenceNr.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
