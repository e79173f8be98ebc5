using System.Text;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Hosting;

namespace CeleryActors.Persistence.Redis.Hosting;

/// <summary>
/// Akka.Hosting options of the Redis journal; bind them from <c>IConfiguration</c> if you like. Only the values
/// set here override the plugin's <c>reference.conf</c>.
/// </summary>
public sealed class RedisJournalOptions : JournalOptions
{
    private static readonly Config Defaults =
        RedisPersistence.DefaultConfig().GetConfig(RedisPersistence.JournalConfigPath);

    /// <summary>Options of the default journal with id <c>redis</c>.</summary>
    public RedisJournalOptions() : this(isDefault: true)
    {
    }

    /// <summary>Options of a journal with the given id; <paramref name="isDefault"/> makes it the default journal.</summary>
    public RedisJournalOptions(bool isDefault, string identifier = "redis") : base(isDefault)
    {
        Identifier = identifier;
        // Empty: payload types without a binding use Akka's default, not the base class's forced "json".
        Serializer = string.Empty;
    }

    /// <summary>Plugin id: the journal lives at <c>akka.persistence.journal.{Identifier}</c>. Default <c>redis</c>.</summary>
    public override string Identifier { get; set; }

    /// <summary>StackExchange.Redis configuration string; required unless a multiplexer is injected.</summary>
    public string? ConfigurationString { get; set; }

    /// <summary>Logical database; null keeps the default (-1: the configuration string's).</summary>
    public int? Database { get; set; }

    /// <summary>Key prefix (no braces); null keeps <c>akka:persistence:</c>.</summary>
    public string? KeyPrefix { get; set; }

    /// <summary>Events per replay round trip; null keeps 1000.</summary>
    public int? ReplayBatchSize { get; set; }

    /// <inheritdoc />
    protected override Config InternalDefaultConfig => Defaults;

    /// <inheritdoc />
    protected override StringBuilder Build(StringBuilder sb)
    {
        sb.AppendLine($"class = {RedisPersistenceHosting.JournalClass.ToHocon()}");
        if (ConfigurationString is not null) sb.AppendLine($"configuration-string = {ConfigurationString.ToHocon()}");
        if (Database is not null) sb.AppendLine($"database = {Database.Value}");
        if (KeyPrefix is not null) sb.AppendLine($"key-prefix = {KeyPrefix.ToHocon()}");
        if (ReplayBatchSize is not null) sb.AppendLine($"replay-batch-size = {ReplayBatchSize.Value}");
        return base.Build(sb);
    }
}

/// <summary>Akka.Hosting options of the Redis snapshot store. Only the values set here override <c>reference.conf</c>.</summary>
public sealed class RedisSnapshotOptions : SnapshotOptions
{
    private static readonly Config Defaults =
        RedisPersistence.DefaultConfig().GetConfig(RedisPersistence.SnapshotStoreConfigPath);

    /// <summary>Options of the default snapshot store with id <c>redis</c>.</summary>
    public RedisSnapshotOptions() : this(isDefault: true)
    {
    }

    /// <summary>Options of a snapshot store with the given id; <paramref name="isDefault"/> makes it the default.</summary>
    public RedisSnapshotOptions(bool isDefault, string identifier = "redis") : base(isDefault)
    {
        Identifier = identifier;
        Serializer = string.Empty;
    }

    /// <summary>Plugin id: the store lives at <c>akka.persistence.snapshot-store.{Identifier}</c>. Default <c>redis</c>.</summary>
    public override string Identifier { get; set; }

    /// <summary>StackExchange.Redis configuration string; required unless a multiplexer is injected.</summary>
    public string? ConfigurationString { get; set; }

    /// <summary>Logical database; null keeps the default (-1: the configuration string's).</summary>
    public int? Database { get; set; }

    /// <summary>Key prefix (no braces); null keeps <c>akka:persistence:</c>.</summary>
    public string? KeyPrefix { get; set; }

    /// <inheritdoc />
    protected override Config InternalDefaultConfig => Defaults;

    /// <inheritdoc />
    protected override StringBuilder Build(StringBuilder sb)
    {
        sb.AppendLine($"class = {RedisPersistenceHosting.SnapshotClass.ToHocon()}");
        if (ConfigurationString is not null) sb.AppendLine($"configuration-string = {ConfigurationString.ToHocon()}");
        if (Database is not null) sb.AppendLine($"database = {Database.Value}");
        if (KeyPrefix is not null) sb.AppendLine($"key-prefix = {KeyPrefix.ToHocon()}");
        return base.Build(sb);
    }
}
