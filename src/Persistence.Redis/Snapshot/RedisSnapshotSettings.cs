using Akka.Configuration;

namespace CeleryActors.Persistence.Redis.Snapshot;

/// <summary>Settings of the Redis snapshot store (<c>akka.persistence.snapshot-store.redis</c> by default).</summary>
public sealed record RedisSnapshotSettings : RedisPluginSettings
{
    /// <summary>Reads the settings from the snapshot store's plugin section.</summary>
    /// <exception cref="ConfigurationException">A value is missing or out of range.</exception>
    public RedisSnapshotSettings(Config config) : base(config)
    {
    }
}
