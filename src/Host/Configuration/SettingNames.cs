namespace CeleryActors.Host.Configuration;

/// <summary>
/// The environment variables of SPEC §8 (and the project's additions) and the configuration keys they set. The
/// one place that ties the two together: the configuration source and the error messages both read it.
/// </summary>
public static class SettingNames
{
    /// <summary>Environment variable → configuration key.</summary>
    public static IReadOnlyDictionary<string, string> EnvironmentToKey { get; } = new Dictionary<string, string>
    {
        ["METRICS_HOST"] = "CeleryActors:Metrics:Host",
        ["METRICS_PORT"] = "CeleryActors:Metrics:Port",
        ["METRICS_REFRESH_INTERVAL"] = "CeleryActors:Metrics:RefreshInterval",
        ["METRICS_MAX_LABEL_VALUES"] = "CeleryActors:Metrics:MaxLabelValues",
        ["METRICS_MAX_SERIES"] = "CeleryActors:Metrics:MaxSeries",
        ["METRICS_LABEL_TTL"] = "CeleryActors:Metrics:LabelTtl",
        ["METRICS_OBSERVATION_BUFFER"] = "CeleryActors:Metrics:ObservationBuffer",
        ["METRICS_TOKEN"] = "CeleryActors:Metrics:Token",
        ["API_TOKEN"] = "CeleryActors:Metrics:ApiToken",
        ["REDIS_URL"] = "CeleryActors:Redis:Url",
        ["CELERYACTORS_STATE_DIR"] = "CeleryActors:Redis:StateDirectory",
        ["REDIS_PROBE_INTERVAL"] = "CeleryActors:Redis:ProbeInterval",
        ["MAX_PAYLOAD_BYTES"] = "CeleryActors:Redis:MaxPayloadBytes",
        ["MAX_BUFFERED_BYTES"] = "CeleryActors:Redis:MaxBufferedBytes",
        ["CELERY_BROKER_URL"] = "CeleryActors:Celery:BrokerUrl",
        ["CELERY_BROKERS"] = "CeleryActors:Celery:Brokers",
        ["CELERY_KEY_PREFIX"] = "CeleryActors:Celery:KeyPrefix",
        ["CELERY_BROKER_SEPARATOR"] = "CeleryActors:Celery:Separator",
        ["CELERY_QUEUES"] = "CeleryActors:Celery:Queues",
        ["CELERY_WORKER_TIMEOUT"] = "CeleryActors:Celery:WorkerTimeout",
        ["CELERY_OFFLINE_SERIES_TTL"] = "CeleryActors:Celery:OfflineSeriesTtl",
        ["CELERY_INSPECT_INTERVAL"] = "CeleryActors:Celery:InspectInterval",
        ["CELERY_INSPECT_TIMEOUT"] = "CeleryActors:Celery:InspectTimeout",
        ["CELERY_TASK_MEMORY_SIZE"] = "CeleryActors:Celery:TaskMemorySize",
        ["CELERY_TASK_MEMORY_AGE"] = "CeleryActors:Celery:TaskMemoryAge",
        ["ALLOCATOR_CHANNEL_PREFIX"] = "CeleryActors:Allocator:ChannelPrefix",
        ["ALLOCATOR_ACK_TIMEOUT"] = "CeleryActors:Allocator:AckTimeout",
        ["ALLOCATOR_WORKER_TIMEOUT"] = "CeleryActors:Allocator:WorkerTimeout",
        ["ALLOCATOR_MAX_PENDING"] = "CeleryActors:Allocator:MaxPending",
        ["ALLOCATOR_MAX_QUEUES"] = "CeleryActors:Allocator:MaxQueues",
        ["ALLOCATOR_REPLAY_BYTES"] = "CeleryActors:Allocator:ReplayBytes",
        ["CLUSTER_HOSTNAME"] = "CeleryActors:Cluster:Hostname",
        ["CLUSTER_PORT"] = "CeleryActors:Cluster:Port",
        ["CLUSTER_SEEDS"] = "CeleryActors:Cluster:Seeds",
        ["CLUSTER_LEAVE_WITHOUT_REDIS"] = "CeleryActors:Cluster:LeaveWithoutRedis",
    };

    private static readonly Dictionary<string, string> KeyToEnvironment =
        EnvironmentToKey.ToDictionary(p => p.Value, p => p.Key, StringComparer.OrdinalIgnoreCase);

    /// <summary>How a user names the setting at <paramref name="key"/>: <c>METRICS_PORT (CeleryActors:Metrics:Port)</c>.</summary>
    public static string Describe(string key) =>
        KeyToEnvironment.TryGetValue(key, out var env) ? $"{env} ({key})" : key;
}
