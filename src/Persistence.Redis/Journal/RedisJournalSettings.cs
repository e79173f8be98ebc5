using Akka.Configuration;

namespace CeleryActors.Persistence.Redis.Journal;

/// <summary>Settings of the Redis journal (<c>akka.persistence.journal.redis</c> by default).</summary>
public sealed record RedisJournalSettings : RedisPluginSettings
{
    /// <summary>Reads the settings from the journal's plugin section.</summary>
    /// <exception cref="ConfigurationException">A value is missing or out of range.</exception>
    public RedisJournalSettings(Config config) : base(config)
    {
        ReplayBatchSize = config.GetInt("replay-batch-size", 1000);
        if (ReplayBatchSize < 1)
            throw new ConfigurationException($"replay-batch-size must be at least 1, not {ReplayBatchSize}");
    }

    /// <summary>Events read per Redis round trip during replay. Default 1000.</summary>
    public int ReplayBatchSize { get; init; }
}
