using Akka.Hosting;
using Akka.Persistence.Hosting;
using CeleryActors.Persistence.Redis.Journal;
using CeleryActors.Persistence.Redis.Snapshot;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis.Hosting;

/// <summary>Akka.Hosting registration of the Redis journal and snapshot store.</summary>
public static class RedisPersistenceHosting
{
    internal static readonly string JournalClass = typeof(RedisJournal).AssemblyQualifiedNameWithoutVersion();
    internal static readonly string SnapshotClass = typeof(RedisSnapshotStore).AssemblyQualifiedNameWithoutVersion();

    /// <summary>
    /// Registers the Redis journal and snapshot store as the default plugins (id <c>redis</c>), both on
    /// <paramref name="configurationString"/>.
    /// </summary>
    /// <param name="builder">The Akka.Hosting builder.</param>
    /// <param name="configurationString">StackExchange.Redis configuration string, e.g. <c>localhost:6379</c>.</param>
    /// <param name="configureJournal">Further journal options (key prefix, database, ...).</param>
    /// <param name="configureSnapshots">Further snapshot options.</param>
    public static AkkaConfigurationBuilder WithRedisPersistence(this AkkaConfigurationBuilder builder,
        string configurationString, Action<RedisJournalOptions>? configureJournal = null,
        Action<RedisSnapshotOptions>? configureSnapshots = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configurationString);
        var journal = new RedisJournalOptions { ConfigurationString = configurationString };
        var snapshots = new RedisSnapshotOptions { ConfigurationString = configurationString };
        configureJournal?.Invoke(journal);
        configureSnapshots?.Invoke(snapshots);
        return builder.WithRedisPersistence(journal, snapshots);
    }

    /// <summary>
    /// Registers the Redis journal and snapshot store on an existing multiplexer (for example the application's
    /// DI singleton). Both plugins share it and never dispose it: its owner does.
    /// </summary>
    public static AkkaConfigurationBuilder WithRedisPersistence(this AkkaConfigurationBuilder builder,
        IConnectionMultiplexer multiplexer, Action<RedisJournalOptions>? configureJournal = null,
        Action<RedisSnapshotOptions>? configureSnapshots = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        var journal = new RedisJournalOptions();
        var snapshots = new RedisSnapshotOptions();
        configureJournal?.Invoke(journal);
        configureSnapshots?.Invoke(snapshots);
        builder.AddSetup(new RedisPersistenceSetup(multiplexer));
        return builder.WithRedisPersistence(journal, snapshots);
    }

    /// <summary>Registers the Redis journal and snapshot store with fully built options.</summary>
    public static AkkaConfigurationBuilder WithRedisPersistence(this AkkaConfigurationBuilder builder,
        RedisJournalOptions journal, RedisSnapshotOptions snapshots)
    {
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(snapshots);
        // The reference.conf goes in as a fallback, so anything the application sets itself wins.
        builder.AddHocon(RedisPersistence.DefaultConfig(), HoconAddMode.Append);
        return builder.WithJournalAndSnapshot(journal, snapshots);
    }

    private static string AssemblyQualifiedNameWithoutVersion(this Type type) =>
        $"{type.FullName}, {type.Assembly.GetName().Name}";
}
