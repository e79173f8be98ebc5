using Akka.Configuration;

namespace CeleryActors.Persistence.Redis;

/// <summary>
/// Settings shared by the Redis journal and snapshot store, read from their plugin section of the config.
/// Immutable: a change of settings means a new plugin actor.
/// </summary>
public abstract record RedisPluginSettings
{
    /// <summary>Builds the settings from a plugin section, checking every value.</summary>
    /// <exception cref="ConfigurationException">A value is missing or out of range.</exception>
    protected RedisPluginSettings(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        ConfigurationString = config.GetString("configuration-string", string.Empty);
        Database = config.GetInt("database", -1);
        KeyPrefix = config.GetString("key-prefix", "akka:persistence:");
        var serializer = config.GetString("serializer", string.Empty);
        Serializer = string.IsNullOrWhiteSpace(serializer) ? null : serializer;

        if (Database < -1)
            throw new ConfigurationException($"database must be -1 (from the configuration string) or >= 0, not {Database}");
        // A brace in the prefix would become the hash tag and put every persistence id on one slot.
        if (KeyPrefix.IndexOfAny(['{', '}']) >= 0)
            throw new ConfigurationException($"key-prefix must not contain '{{' or '}}' (they mark the hash tag): '{KeyPrefix}'");
    }

    /// <summary>StackExchange.Redis configuration string. Default <c>localhost:6379</c>.</summary>
    public string ConfigurationString { get; init; }

    /// <summary>Logical database; -1 (the default) means the one of the configuration string.</summary>
    public int Database { get; init; }

    /// <summary>Prefix of every key. Default <c>akka:persistence:</c>.</summary>
    public string KeyPrefix { get; init; }

    /// <summary>Serializer name for payload types without a binding; null (the default) uses Akka's default.</summary>
    public string? Serializer { get; init; }
}
