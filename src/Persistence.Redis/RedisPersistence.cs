using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using StackExchange.Redis;

namespace CeleryActors.Persistence.Redis;

/// <summary>
/// The extension that injects the plugin's <c>reference.conf</c> as a top-level fallback, so an application
/// only has to name the plugin (<c>akka.persistence.journal.plugin = "akka.persistence.journal.redis"</c>).
/// The plugin actors load it themselves; call <see cref="Get"/> early only if you read the defaults before that.
/// </summary>
public sealed class RedisPersistence : IExtension
{
    /// <summary>Config path of the journal's default section.</summary>
    public const string JournalConfigPath = "akka.persistence.journal.redis";

    /// <summary>Config path of the snapshot store's default section.</summary>
    public const string SnapshotStoreConfigPath = "akka.persistence.snapshot-store.redis";

    private static readonly Lazy<Config> Reference = new(() =>
        ConfigurationFactory.FromResource<RedisPersistence>("CeleryActors.Persistence.Redis.reference.conf"));

    /// <summary>Creates the extension for <paramref name="system"/>; use <see cref="Get"/> instead.</summary>
    public RedisPersistence(ExtendedActorSystem system)
    {
        system.Settings.InjectTopLevelFallback(DefaultConfig());
        var setup = system.Settings.Setup.Get<RedisPersistenceSetup>();
        Setup = setup.HasValue ? setup.Value : null;
    }

    /// <summary>The multiplexer the application injected, if any.</summary>
    public RedisPersistenceSetup? Setup { get; }

    /// <summary>The plugin's reference configuration (both sections).</summary>
    public static Config DefaultConfig() => Reference.Value;

    /// <summary>The extension of <paramref name="system"/>, created on first use.</summary>
    public static RedisPersistence Get(ActorSystem system) =>
        system.WithExtension<RedisPersistence, RedisPersistenceProvider>();
}

/// <summary>Creates <see cref="RedisPersistence"/>.</summary>
public sealed class RedisPersistenceProvider : ExtensionIdProvider<RedisPersistence>
{
    /// <inheritdoc />
    public override RedisPersistence CreateExtension(ExtendedActorSystem system) => new(system);
}

/// <summary>
/// Hands an existing <see cref="IConnectionMultiplexer"/> to the Redis journal and snapshot store (for example the
/// one of the application's DI container), so they share one connection with the application. The plugins never
/// dispose an injected multiplexer: its owner does.
/// </summary>
public sealed class RedisPersistenceSetup : Setup
{
    /// <summary>Wraps <paramref name="multiplexer"/>.</summary>
    public RedisPersistenceSetup(IConnectionMultiplexer multiplexer)
    {
        Multiplexer = multiplexer ?? throw new ArgumentNullException(nameof(multiplexer));
    }

    /// <summary>The connection both plugins use instead of opening their own.</summary>
    public IConnectionMultiplexer Multiplexer { get; }
}
