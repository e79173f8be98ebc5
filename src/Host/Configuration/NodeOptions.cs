using CeleryActors.Actors.Allocator;

namespace CeleryActors.Host.Configuration;

/// <summary>
/// Every setting of a host node, bound from the <c>CeleryActors</c> section of <c>appsettings.json</c>, from
/// environment variables (SPEC §8 names, see <see cref="SettingNames"/>, or <c>CeleryActors__Section__Key</c>),
/// and from the command line, later sources winning.
/// </summary>
public sealed class NodeOptions
{
    /// <summary>The configuration section the options bind from.</summary>
    public const string Section = "CeleryActors";

    /// <summary>The metrics HTTP endpoint and the metric pipeline.</summary>
    public MetricsOptions Metrics { get; set; } = new();

    /// <summary>The node's Redis.</summary>
    public RedisOptions Redis { get; set; } = new();

    /// <summary>Celery monitoring.</summary>
    public CeleryOptions Celery { get; set; } = new();

    /// <summary>The allocator's wire settings.</summary>
    public AllocatorOptions Allocator { get; set; } = new();

    /// <summary>The node's place in its Akka.NET cluster.</summary>
    public NodeClusterOptions Cluster { get; set; } = new();
}

/// <summary>Settings of the metrics endpoint and of metric recording.</summary>
public sealed class MetricsOptions
{
    /// <summary>Address the HTTP server binds (<c>METRICS_HOST</c>); default <c>0.0.0.0</c>.</summary>
    public string Host { get; set; } = "0.0.0.0";

    /// <summary>Port of the HTTP server (<c>METRICS_PORT</c>); default 9540; 0 picks a free port.</summary>
    public int Port { get; set; } = 9540;

    /// <summary>Seconds between refreshes of what the node reads from Redis (<c>METRICS_REFRESH_INTERVAL</c>);
    /// default 5.</summary>
    public double RefreshInterval { get; set; } = 5;

    /// <summary>Distinct values kept per label before new ones fold into <c>__overflow__</c>
    /// (<c>METRICS_MAX_LABEL_VALUES</c>); default 2,000.</summary>
    public int MaxLabelValues { get; set; } = 2_000;

    /// <summary>Series kept per metric family whose labels come from outside before new label sets go to the
    /// family's <c>__overflow__</c> series (<c>METRICS_MAX_SERIES</c>); default 10,000.</summary>
    public int MaxSeries { get; set; } = 10_000;

    /// <summary>Seconds a label value may go unseen before it is freed and its series removed
    /// (<c>METRICS_LABEL_TTL</c>); default 3,600.</summary>
    public double LabelTtl { get; set; } = 3_600;

    /// <summary>Histogram observations buffered ahead of the pipeline (<c>METRICS_OBSERVATION_BUFFER</c>);
    /// default 65,536.</summary>
    public int ObservationBuffer { get; set; } = 65_536;

    /// <summary>Bearer token <c>/metrics</c> and <c>/health/*</c> ask for (<c>METRICS_TOKEN</c>); unset or empty:
    /// open.</summary>
    public string? Token { get; set; }

    /// <summary>Bearer token the JSON API (<c>/api/*</c>) asks for (<c>API_TOKEN</c>); unset or empty: open.</summary>
    public string? ApiToken { get; set; }
}

/// <summary>Settings of the node's Redis.</summary>
public sealed class RedisOptions
{
    /// <summary><c>REDIS_URL</c>: <c>redis://[:password@]host:port[/db]</c> or <c>rediss://</c>; unset, the node
    /// starts its own <c>redis-server</c> on loopback.</summary>
    public string? Url { get; set; }

    /// <summary>Folder of the embedded server's data (<c>CELERYACTORS_STATE_DIR</c>); default
    /// <c>.celeryactors</c> under the working directory.</summary>
    public string StateDirectory { get; set; } = ".celeryactors";

    /// <summary>Seconds between probes of Redis for the health check (<c>REDIS_PROBE_INTERVAL</c>); default 1.</summary>
    public double ProbeInterval { get; set; } = 1;

    /// <summary>Largest pub/sub payload read, in bytes (<c>MAX_PAYLOAD_BYTES</c>); default 1 MiB.</summary>
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    /// <summary>Bytes of pub/sub messages heard and not handled yet each subscriber of the node holds
    /// (<c>MAX_BUFFERED_BYTES</c>); default 64 MiB. Past them messages are dropped and counted
    /// (<c>celery_redis_pubsub_dropped_total</c>).</summary>
    public long MaxBufferedBytes { get; set; } = 64L * 1024 * 1024;
}

/// <summary>Settings of Celery monitoring.</summary>
public sealed class CeleryOptions
{
    /// <summary><c>CELERY_BROKER_URL</c>; unset, no Celery monitoring.</summary>
    public string? BrokerUrl { get; set; }

    /// <summary><c>CELERY_BROKERS</c>: several brokers to monitor, comma-separated <c>name=url</c>; each broker's
    /// series carry its name in the <c>broker</c> label. Unset: the one broker of <see cref="BrokerUrl"/>, if any.</summary>
    public string? Brokers { get; set; }

    /// <summary>kombu's <c>global_keyprefix</c> transport option (<c>CELERY_KEY_PREFIX</c>); default empty.</summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>kombu's <c>sep</c> transport option (<c>CELERY_BROKER_SEPARATOR</c>); empty: read it off the
    /// broker's bindings, falling back to kombu's default <c>\x06\x16</c>.</summary>
    public string Separator { get; set; } = "";

    /// <summary>Comma-separated queues to watch besides those discovered (<c>CELERY_QUEUES</c>).</summary>
    public string Queues { get; set; } = "";

    /// <summary>Seconds without a heartbeat or event after which a worker is offline (<c>CELERY_WORKER_TIMEOUT</c>);
    /// default 10.</summary>
    public double WorkerTimeout { get; set; } = 10;

    /// <summary>Seconds an offline worker's series stay before they are removed (<c>CELERY_OFFLINE_SERIES_TTL</c>);
    /// default 300.</summary>
    public double OfflineSeriesTtl { get; set; } = 300;

    /// <summary>Seconds between remote-control rounds (<c>CELERY_INSPECT_INTERVAL</c>); default 5.</summary>
    public double InspectInterval { get; set; } = 5;

    /// <summary>Seconds replies to one broadcast are collected (<c>CELERY_INSPECT_TIMEOUT</c>); default 1.</summary>
    public double InspectTimeout { get; set; } = 1;

    /// <summary>Task ids remembered for their name and queue (<c>CELERY_TASK_MEMORY_SIZE</c>); default 100,000.</summary>
    public int TaskMemorySize { get; set; } = 100_000;

    /// <summary>Seconds a task id is remembered (<c>CELERY_TASK_MEMORY_AGE</c>); default 3,600.</summary>
    public double TaskMemoryAge { get; set; } = 3_600;
}

/// <summary>Settings of the allocator.</summary>
public sealed class AllocatorOptions
{
    /// <summary>Prefix of every channel name (<c>ALLOCATOR_CHANNEL_PREFIX</c>); default empty.</summary>
    public string ChannelPrefix { get; set; } = "";

    /// <summary>Seconds an assignment may go unacknowledged (<c>ALLOCATOR_ACK_TIMEOUT</c>); default 30.</summary>
    public double AckTimeout { get; set; } = 30;

    /// <summary>Seconds of silence after which a worker is offline (<c>ALLOCATOR_WORKER_TIMEOUT</c>); default 15.</summary>
    public double WorkerTimeout { get; set; } = 15;

    /// <summary>Most waiting tasks per queue (<c>ALLOCATOR_MAX_PENDING</c>); default 1,000,000: beyond, a task is
    /// refused and counted.</summary>
    public int MaxPending { get; set; } = 1_000_000;

    /// <summary>Most queues the allocator keeps, in the whole cluster (<c>ALLOCATOR_MAX_QUEUES</c>); default 10,000.
    /// A task for a new queue beyond is refused (<c>reason="too_many_queues"</c>) and nothing of it stored.</summary>
    public int MaxQueues { get; set; } = 10_000;

    /// <summary>Bytes of recent pub/sub messages each node keeps to take again when the nodes that take them change
    /// (<c>ALLOCATOR_REPLAY_BYTES</c>); default 512 MiB, 20 s at 20,000 tasks/s of 1 KB.</summary>
    public long ReplayBytes { get; set; } = AllocatorSettings.DefaultReplayBudgetBytes;
}

/// <summary>Settings of the node's cluster membership.</summary>
public sealed class NodeClusterOptions
{
    /// <summary>Host name other nodes reach this one by (<c>CLUSTER_HOSTNAME</c>); default 127.0.0.1.</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>Remoting port (<c>CLUSTER_PORT</c>); default 4053; 0 picks a free port.</summary>
    public int Port { get; set; } = 4053;

    /// <summary>Comma-separated seed nodes, each <c>HOST:PORT</c> or a full Akka address
    /// (<c>CLUSTER_SEEDS</c>); empty, the node is its own seed.</summary>
    public string Seeds { get; set; } = "";

    /// <summary>Seconds Redis may stay out of reach before the node leaves the cluster, so that its entities move
    /// to nodes that can write (<c>CLUSTER_LEAVE_WITHOUT_REDIS</c>); default 30, 0 never. The node joins again
    /// once Redis answers.</summary>
    public double LeaveWithoutRedis { get; set; } = 30;
}
