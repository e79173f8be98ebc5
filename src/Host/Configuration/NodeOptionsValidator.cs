using System.Net;
using CeleryActors.Redis;

namespace CeleryActors.Host.Configuration;

/// <summary>Checks every setting of <see cref="NodeOptions"/> and says what is wrong with each bad one.</summary>
public static class NodeOptionsValidator
{
    /// <summary>The errors, empty when the options are good.</summary>
    public static IReadOnlyList<SettingError> Validate(NodeOptions o)
    {
        var errors = new List<SettingError>();
        void Check(bool ok, string key, string problem)
        {
            if (!ok) errors.Add(new SettingError("CeleryActors:" + key, problem));
        }

        Check(IsHost(o.Metrics.Host), "Metrics:Host", $"'{o.Metrics.Host}' is not a host name or IP address");
        Check(o.Metrics.Port is >= 0 and <= 65535, "Metrics:Port", $"{o.Metrics.Port} is not a port (0-65535)");
        Check(IsPositive(o.Metrics.RefreshInterval), "Metrics:RefreshInterval",
            $"{o.Metrics.RefreshInterval} is not a positive number of seconds");
        Check(o.Metrics.MaxLabelValues >= 1, "Metrics:MaxLabelValues", $"{o.Metrics.MaxLabelValues} is not at least 1");
        Check(o.Metrics.MaxSeries >= 1, "Metrics:MaxSeries", $"{o.Metrics.MaxSeries} is not at least 1");
        Check(IsPositive(o.Metrics.LabelTtl), "Metrics:LabelTtl", $"{o.Metrics.LabelTtl} is not a positive number of seconds");
        Check(o.Metrics.ObservationBuffer >= 16, "Metrics:ObservationBuffer",
            $"{o.Metrics.ObservationBuffer} is not at least 16");

        if (o.Redis.Url is { Length: > 0 } url && !RedisUrl.TryParse(url, out _, out var redisError))
            errors.Add(new SettingError("CeleryActors:Redis:Url", redisError!));
        Check(!string.IsNullOrWhiteSpace(o.Redis.StateDirectory), "Redis:StateDirectory", "is empty");
        Check(IsPositive(o.Redis.ProbeInterval), "Redis:ProbeInterval",
            $"{o.Redis.ProbeInterval} is not a positive number of seconds");
        Check(o.Redis.MaxPayloadBytes >= 1024, "Redis:MaxPayloadBytes", $"{o.Redis.MaxPayloadBytes} is not at least 1024");
        Check(o.Redis.MaxBufferedBytes >= o.Redis.MaxPayloadBytes, "Redis:MaxBufferedBytes",
            $"{o.Redis.MaxBufferedBytes} is less than MAX_PAYLOAD_BYTES ({o.Redis.MaxPayloadBytes})");

        if (o.Celery.BrokerUrl is { Length: > 0 } broker && !RedisUrl.TryParse(broker, out _, out var brokerError))
            errors.Add(new SettingError("CeleryActors:Celery:BrokerUrl", brokerError!));
        if (!CeleryBrokers.TryParse(o.Celery.Brokers, out _, out var brokersError))
            errors.Add(new SettingError("CeleryActors:Celery:Brokers", brokersError!));
        // Which of the two would win is not obvious; a node told both stops rather than guess.
        Check(string.IsNullOrWhiteSpace(o.Celery.BrokerUrl) || string.IsNullOrWhiteSpace(o.Celery.Brokers),
            "Celery:Brokers", "is set together with CELERY_BROKER_URL; set one of the two (add that broker to CELERY_BROKERS under a name)");

        foreach (var (key, seconds) in new[]
                 {
                     ("Celery:WorkerTimeout", o.Celery.WorkerTimeout), ("Celery:OfflineSeriesTtl", o.Celery.OfflineSeriesTtl),
                     ("Celery:InspectInterval", o.Celery.InspectInterval), ("Celery:InspectTimeout", o.Celery.InspectTimeout),
                     ("Celery:TaskMemoryAge", o.Celery.TaskMemoryAge),
                 })
            Check(IsPositive(seconds), key, $"{seconds} is not a positive number of seconds");
        Check(o.Celery.InspectTimeout < o.Celery.InspectInterval, "Celery:InspectTimeout",
            $"{o.Celery.InspectTimeout} s is not shorter than the inspect interval ({o.Celery.InspectInterval} s)");
        Check(o.Celery.TaskMemorySize >= 1, "Celery:TaskMemorySize", $"{o.Celery.TaskMemorySize} is not at least 1");
        Check(!o.Celery.KeyPrefix.Any(c => c is '*' or '?' or '[' or ']' || char.IsWhiteSpace(c)), "Celery:KeyPrefix",
            $"'{o.Celery.KeyPrefix}' holds white space or a pattern character");
        if (o.Celery.Separator.Length > 0 && !TryUnescape(o.Celery.Separator, out _))
            errors.Add(new SettingError("CeleryActors:Celery:Separator",
                $"'{o.Celery.Separator}' has an escape that is not valid (use e.g. \\x06\\x16 or :)"));

        // Redis glob patterns give * ? [ ] and \ a meaning: the tasks:* subscription would match other channels.
        Check(o.Allocator.ChannelPrefix.All(c => !char.IsWhiteSpace(c) && !char.IsControl(c) && "*?[]\\".IndexOf(c) < 0),
            "Allocator:ChannelPrefix", $"'{o.Allocator.ChannelPrefix}' holds white space, a control character or a Redis pattern character (* ? [ ] \\)");
        Check(o.Allocator.MaxPending >= 1, "Allocator:MaxPending", $"{o.Allocator.MaxPending} is not at least 1");
        Check(o.Allocator.MaxQueues >= 1, "Allocator:MaxQueues", $"{o.Allocator.MaxQueues} is not at least 1");
        Check(o.Allocator.ReplayBytes >= o.Redis.MaxPayloadBytes, "Allocator:ReplayBytes",
            $"{o.Allocator.ReplayBytes} is less than MAX_PAYLOAD_BYTES ({o.Redis.MaxPayloadBytes})");
        Check(IsPositive(o.Allocator.AckTimeout), "Allocator:AckTimeout",
            $"{o.Allocator.AckTimeout} is not a positive number of seconds");
        Check(IsPositive(o.Allocator.WorkerTimeout), "Allocator:WorkerTimeout",
            $"{o.Allocator.WorkerTimeout} is not a positive number of seconds");

        Check(IsHost(o.Cluster.Hostname), "Cluster:Hostname", $"'{o.Cluster.Hostname}' is not a host name or IP address");
        Check(o.Cluster.Port is >= 0 and <= 65535, "Cluster:Port", $"{o.Cluster.Port} is not a port (0-65535)");
        Check(double.IsFinite(o.Cluster.LeaveWithoutRedis) && o.Cluster.LeaveWithoutRedis >= 0, "Cluster:LeaveWithoutRedis",
            $"{o.Cluster.LeaveWithoutRedis} is not a number of seconds (0: never leave)");
        if (!SeedNodes.TryParse(o.Cluster.Seeds, out _, out var seedError))
            errors.Add(new SettingError("CeleryActors:Cluster:Seeds", seedError!));
        return errors;
    }

    /// <summary>Reads escapes such as <c>\x06\x16</c> in a separator given as text.</summary>
    public static bool TryUnescape(string text, out string value)
    {
        try
        {
            value = System.Text.RegularExpressions.Regex.Unescape(text);
            return value.Length > 0;
        }
        catch (ArgumentException)
        {
            value = "";
            return false;
        }
    }

    private static bool IsPositive(double seconds) => double.IsFinite(seconds) && seconds > 0;

    private static bool IsHost(string host) =>
        IPAddress.TryParse(host, out _) || Uri.CheckHostName(host) == UriHostNameType.Dns;
}
