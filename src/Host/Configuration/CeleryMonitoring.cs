using CeleryActors.Actors.Celery;
using CeleryActors.Redis;

namespace CeleryActors.Host.Configuration;

/// <summary>Turns the Celery options into what the monitor needs: which brokers, and the settings of each.</summary>
public static class CeleryMonitoring
{
    /// <summary>Whether the node watches several brokers, whose series then carry the <c>broker</c> label.</summary>
    public static bool ByBroker(NodeOptions options) => !string.IsNullOrWhiteSpace(options.Celery.Brokers);

    /// <summary>The brokers to watch (validated options): each of <c>CELERY_BROKERS</c> with its name, else the one
    /// of <c>CELERY_BROKER_URL</c> without a name, else none.</summary>
    public static IReadOnlyList<(string? Name, RedisUrl Url)> Brokers(NodeOptions options)
    {
        if (ByBroker(options))
        {
            CeleryBrokers.TryParse(options.Celery.Brokers, out var named, out _);
            return named.Select(b => ((string?)b.Name, b.Url)).ToArray();
        }
        return string.IsNullOrWhiteSpace(options.Celery.BrokerUrl) ? [] : [(null, RedisUrl.Parse(options.Celery.BrokerUrl))];
    }

    /// <summary>The monitor's settings for one broker; every broker shares the <c>CELERY_*</c> settings.</summary>
    public static CeleryMonitorSettings Settings(NodeOptions options, RedisUrl broker, string? name)
    {
        var celery = options.Celery;
        return new CeleryMonitorSettings(broker, celery.KeyPrefix,
            NodeOptionsValidator.TryUnescape(celery.Separator, out var separator) ? separator : null,
            celery.Queues.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            TimeSpan.FromSeconds(celery.WorkerTimeout), TimeSpan.FromSeconds(celery.OfflineSeriesTtl),
            TimeSpan.FromSeconds(options.Metrics.RefreshInterval), TimeSpan.FromSeconds(celery.InspectInterval),
            TimeSpan.FromSeconds(celery.InspectTimeout), celery.TaskMemorySize, TimeSpan.FromSeconds(celery.TaskMemoryAge),
            options.Redis.MaxPayloadBytes)
        {
            MaxBufferedBytes = options.Redis.MaxBufferedBytes,
            BrokerName = name,
        };
    }
}
