using CeleryActors.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>Settings of Celery monitoring.</summary>
/// <param name="Broker">The broker (<c>CELERY_BROKER_URL</c>).</param>
/// <param name="KeyPrefix">kombu's <c>global_keyprefix</c> transport option; empty by default.</param>
/// <param name="Separator">kombu's <c>sep</c> transport option; null: read it off the broker's bindings, else
/// kombu's default <c>\x06\x16</c>.</param>
/// <param name="Queues">Queues to watch besides those discovered.</param>
/// <param name="WorkerTimeout">Silence after which a worker is offline (default 10 s).</param>
/// <param name="OfflineSeriesTtl">How long an offline worker's series stay before they are removed.</param>
/// <param name="RefreshInterval">Interval of the queue-length poll (<c>METRICS_REFRESH_INTERVAL</c>).</param>
/// <param name="InspectInterval">Interval of the remote-control poll.</param>
/// <param name="InspectTimeout">How long replies to one broadcast are collected.</param>
/// <param name="TaskMemorySize">Task ids remembered for name and queue.</param>
/// <param name="TaskMemoryAge">How long a task id is remembered.</param>
/// <param name="MaxPayloadBytes">Event messages larger than this are rejected unread.</param>
public sealed record CeleryMonitorSettings(
    RedisUrl Broker,
    string KeyPrefix,
    string? Separator,
    IReadOnlyList<string> Queues,
    TimeSpan WorkerTimeout,
    TimeSpan OfflineSeriesTtl,
    TimeSpan RefreshInterval,
    TimeSpan InspectInterval,
    TimeSpan InspectTimeout,
    int TaskMemorySize,
    TimeSpan TaskMemoryAge,
    int MaxPayloadBytes)
{
    /// <summary>Bytes of events heard and not handled yet the monitor holds (<c>MAX_BUFFERED_BYTES</c>, and at most
    /// <see cref="Subscription.FlowControlledFeed.WindowBytes"/>); with them held it reads no more and the broker
    /// holds the rest.</summary>
    public long MaxBufferedBytes { get; init; } = Subscription.PubSubBudget.DefaultBytes;

    /// <summary>The broker's name in <c>CELERY_BROKERS</c>, the value of the <c>broker</c> label of its series;
    /// null for the one broker of <c>CELERY_BROKER_URL</c>, whose series carry no such label.</summary>
    public string? BrokerName { get; init; }

    /// <summary>How logs name the broker: its name, or its URL (without password) when it has none.</summary>
    public string Describe() => BrokerName is null ? Broker.ToString() : $"'{BrokerName}' ({Broker})";

    /// <summary>kombu's default separator of binding members and priority sub-lists.</summary>
    public const string DefaultSeparator = "\x06\x16";

    /// <summary>Defaults for a broker.</summary>
    public static CeleryMonitorSettings For(RedisUrl broker) => new(broker, "", null, [],
        TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5),
        TimeSpan.FromSeconds(1), 100_000, TimeSpan.FromHours(1), 1024 * 1024);

    /// <summary>The channel pattern of Celery's events: <c>/{db}.celeryev/*</c>.</summary>
    public string EventsPattern => $"{KeyPrefix}/{Broker.Database}.celeryev/*";

    /// <summary>The channel of remote-control broadcasts: <c>/{db}.celery.pidbox</c>.</summary>
    public string PidboxChannel => $"{KeyPrefix}/{Broker.Database}.celery.pidbox";

    /// <summary>The set that binds queues to <paramref name="exchange"/>.</summary>
    public string BindingKey(string exchange) => $"{KeyPrefix}_kombu.binding.{exchange}";

    /// <summary>The pattern of every binding set.</summary>
    public string BindingPattern => $"{KeyPrefix}_kombu.binding.*";

    /// <summary>The hash of messages taken and not acknowledged.</summary>
    public string UnackedKey => KeyPrefix + "unacked";

    /// <summary>The list holding <paramref name="queue"/>'s messages of <paramref name="priority"/> (0: the plain list).</summary>
    public string QueueList(string queue, int priority, string separator) =>
        priority == 0 ? KeyPrefix + queue : $"{KeyPrefix}{queue}{separator}{priority}";
}
