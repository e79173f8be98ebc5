using System.Text.Json;
using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>What one poll of the broker's queues found.</summary>
/// <param name="Queues">Queue → its state.</param>
/// <param name="Unacked">Queue (routing key) → messages taken and not acknowledged.</param>
/// <param name="Separator">The separator in use (configured or read off the bindings).</param>
public sealed record BrokerQueuesSnapshot(
    IReadOnlyDictionary<string, BrokerQueueState> Queues,
    IReadOnlyDictionary<string, long> Unacked,
    string Separator);

/// <summary>One queue's lists.</summary>
/// <param name="Length">Messages waiting, summed over the plain list and every priority sub-list.</param>
/// <param name="ByPriority">Priority → messages waiting in that sub-list (0: the plain list).</param>
/// <param name="OldestAgeSeconds">How long the oldest waiting message has been seen waiting.</param>
public sealed record BrokerQueueState(long Length, IReadOnlyDictionary<int, long> ByPriority, double OldestAgeSeconds);

/// <summary>
/// Reads a Celery broker's queues the way kombu lays them out on Redis: the queues declared in its
/// <c>_kombu.binding.*</c> sets plus those the caller knows of; each queue's length as the sum of LLEN over the
/// plain list and the priority sub-lists <c>{queue}{sep}{1..9}</c>; the age of the oldest message (see
/// <see cref="OldestTaskTracker"/>); and the <c>unacked</c> hash by routing key. One poll at a time: the owner
/// awaits each <see cref="ReadAsync"/> before the next.
/// </summary>
public sealed class BrokerQueueReader(IConnectionMultiplexer broker, CeleryMonitorSettings settings)
{
    /// <summary>kombu's priority sub-lists on Redis: 0 (the plain list) to 9.</summary>
    public const int Priorities = 10;
    private static readonly string[] InternalExchanges = ["celeryev", "celery.pidbox", "reply.celery.pidbox"];
    private readonly Dictionary<string, OldestTaskTracker> _trackers = new(StringComparer.Ordinal);
    private string? _separator = settings.Separator;
    private IReadOnlyCollection<string> _declared = [];
    private double? _lastBindingScan;

    /// <summary>
    /// Seconds between scans for <c>_kombu.binding.*</c> keys. A SCAN walks the whole database, where a result
    /// backend may keep millions of keys, so it runs far less often than the LLENs; queues learned of from
    /// events and remote control come in between.
    /// </summary>
    public const double BindingScanInterval = 30;

    /// <summary>Polls the broker once.</summary>
    /// <param name="knownQueues">Queues learned of elsewhere (events, remote control, configuration).</param>
    /// <param name="now">Monotonic seconds, for the age estimate.</param>
    public async Task<BrokerQueuesSnapshot> ReadAsync(IReadOnlyCollection<string> knownQueues, double now)
    {
        var db = broker.GetDatabase(settings.Broker.Database);
        if (_lastBindingScan is not { } last || now - last >= BindingScanInterval)
        {
            _declared = await DeclaredQueuesAsync(db).ConfigureAwait(false);
            _lastBindingScan = now;
        }
        var declared = _declared;
        var separator = _separator ?? CeleryMonitorSettings.DefaultSeparator;
        var queues = new SortedSet<string>(knownQueues, StringComparer.Ordinal);
        queues.UnionWith(declared);
        queues.UnionWith(settings.Queues);

        var lengths = new Dictionary<string, Task<long>[]>(StringComparer.Ordinal);
        var batch = db.CreateBatch();
        foreach (var queue in queues)
            lengths[queue] = Enumerable.Range(0, Priorities)
                .Select(p => batch.ListLengthAsync(settings.QueueList(queue, p, separator))).ToArray();
        batch.Execute();

        var result = new Dictionary<string, BrokerQueueState>(StringComparer.Ordinal);
        foreach (var (queue, tasks) in lengths)
        {
            var byPriority = new Dictionary<int, long>();
            double oldest = 0;
            for (var p = 0; p < Priorities; p++)
            {
                var length = await tasks[p].ConfigureAwait(false);
                var key = settings.QueueList(queue, p, separator);
                if (length > 0) byPriority[p] = length;
                if (length == 0 && !_trackers.ContainsKey(key)) continue;
                oldest = Math.Max(oldest, await OldestAgeAsync(db, key, length, now).ConfigureAwait(false));
            }
            result[queue] = new BrokerQueueState(byPriority.Values.Sum(), byPriority, oldest);
        }
        return new BrokerQueuesSnapshot(result, await UnackedAsync(db).ConfigureAwait(false), separator);
    }

    private async Task<double> OldestAgeAsync(IDatabase db, string key, long length, double now)
    {
        if (!_trackers.TryGetValue(key, out var tracker)) _trackers[key] = tracker = new OldestTaskTracker();
        byte[]? head = null, tail = null;
        if (length > 0)
        {
            var headTask = db.ListGetByIndexAsync(key, 0);
            var tailTask = db.ListGetByIndexAsync(key, -1);
            head = (byte[]?)await headTask.ConfigureAwait(false);
            tail = (byte[]?)await tailTask.ConfigureAwait(false);
        }
        var age = await tracker.ObserveAsync(now, head, tail,
            async message => await db.ListPositionAsync(key, message, rank: -1).ConfigureAwait(false) >= 0)
            .ConfigureAwait(false);
        if (head is null) _trackers.Remove(key); // an empty list needs no tracker until it fills again
        return age;
    }

    private async Task<IReadOnlyCollection<string>> DeclaredQueuesAsync(IDatabase db)
    {
        var server = broker.GetServers().FirstOrDefault(s => s.IsConnected) ?? broker.GetServers()[0];
        var queues = new HashSet<string>(StringComparer.Ordinal);
        var members = new List<(string Exchange, string Member)>();
        await foreach (var key in server.KeysAsync(settings.Broker.Database, settings.BindingPattern, pageSize: 500)
                           .ConfigureAwait(false))
        {
            var exchange = key.ToString()[settings.BindingKey("").Length..];
            if (InternalExchanges.Contains(exchange)) continue;
            foreach (var member in await db.SetMembersAsync(key).ConfigureAwait(false))
                members.Add((exchange, member.ToString()));
        }
        _separator ??= KombuSeparator.FromQueueBindings(members) ?? await KombuSeparator.DetectAsync(db, settings).ConfigureAwait(false);
        var separator = _separator ?? CeleryMonitorSettings.DefaultSeparator;
        foreach (var (_, member) in members)
        {
            var cut = member.LastIndexOf(separator, StringComparison.Ordinal);
            var queue = cut < 0 ? member : member[(cut + separator.Length)..];
            if (queue.Length > 0) queues.Add(queue);
        }
        return queues;
    }

    private async Task<IReadOnlyDictionary<string, long>> UnackedAsync(IDatabase db)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await foreach (var entry in db.HashScanAsync(settings.UnackedKey, pageSize: 500).ConfigureAwait(false))
        {
            if (RoutingKeyOfUnacked(entry.Value) is { } queue)
                counts[queue] = counts.GetValueOrDefault(queue) + 1;
        }
        return counts;
    }

    /// <summary>An <c>unacked</c> value is the JSON list <c>[message, exchange, routing_key]</c>.</summary>
    public static string? RoutingKeyOfUnacked(ReadOnlySpan<byte> value)
    {
        try
        {
            var reader = new Utf8JsonReader(value);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray) return null;
            string? last = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType == JsonTokenType.String) last = reader.GetString();
                else reader.Skip();
            }
            return string.IsNullOrEmpty(last) ? null : last;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
