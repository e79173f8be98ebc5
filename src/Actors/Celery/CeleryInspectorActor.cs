using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// Asks the workers through remote control, in the background at an interval, for <c>stats</c> (pool size),
/// <c>active</c>, <c>reserved</c> and <c>active_queues</c>, and sets <c>celery_worker_pool_size</c>,
/// <c>celery_worker_active_tasks</c>, <c>celery_worker_reserved_tasks</c>, and counts the consumers of each queue for the queue watcher. A
/// scrape never waits on a broadcast. What it learns of task queues and consumed queues goes to the events
/// actor (labels of events that lack a queue) and the queue watcher. A worker that answered before and not now
/// is counted in <c>celery_remote_control_missing_replies_total</c>. States: <c>Idle</c>, <c>Inspecting</c>.
/// </summary>
public sealed class CeleryInspectorActor : ReceiveActor, IWithTimers
{
    private const string InspectTimer = "inspect";
    private static readonly string[] Methods = ["stats", "active", "reserved", "active_queues"];
    private readonly IConnectionMultiplexer _broker;
    private readonly CeleryMonitorSettings _settings;
    private readonly CeleryBrokerMetrics _metrics;
    private readonly IActorRef _events;
    private readonly IActorRef _queueWatcher;
    private readonly CeleryRemoteControl _remote;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IReadOnlySet<string> _lastResponders = new HashSet<string>();
    private string? _separator;

    /// <summary>Creates the actor.</summary>
    public CeleryInspectorActor(IConnectionMultiplexer broker, CeleryMonitorSettings settings, CeleryBrokerMetrics metrics,
        IActorRef events, IActorRef queueWatcher)
    {
        _broker = broker;
        _settings = settings;
        _metrics = metrics;
        _events = events;
        _queueWatcher = queueWatcher;
        _remote = new CeleryRemoteControl(broker, settings);
        _separator = settings.Separator;
        Idle();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer broker, CeleryMonitorSettings settings, CeleryBrokerMetrics metrics,
        IActorRef events, IActorRef queueWatcher) =>
        Akka.Actor.Props.Create(() => new CeleryInspectorActor(broker, settings, metrics, events, queueWatcher));

    /// <inheritdoc />
    protected override void PreStart()
    {
        Self.Tell(Inspect.Instance);
        Timers.StartPeriodicTimer(InspectTimer, Inspect.Instance, _settings.InspectInterval);
    }

    private void Idle()
    {
        Receive<Inspect>(_ =>
        {
            InspectAsync().PipeTo(Self, success: r => r, failure: e => new InspectFailed(e));
            Become(Inspecting);
        });
    }

    private void Inspecting()
    {
        Receive<Inspect>(_ => { }); // one round at a time
        Receive<Inspected>(m =>
        {
            _separator ??= m.Separator;
            Publish(m);
            Become(Idle);
        });
        Receive<InspectFailed>(m =>
        {
            _log.Warning("Remote-control round failed: {0}", m.Cause.GetBaseException().Message);
            Become(Idle);
        });
    }

    /// <summary>One round. Runs off the actor's thread: it reads no field after its first await and returns what it
    /// learned (the separator, if it could read it) for the actor to keep.</summary>
    private async Task<Inspected> InspectAsync()
    {
        var known = _separator;
        var detected = known ?? await KombuSeparator.DetectAsync(_broker.GetDatabase(_settings.Broker.Database), _settings)
            .ConfigureAwait(false);
        // Until a worker has bound its pidbox the separator is unknown: kombu's default serves this round only.
        var separator = detected ?? CeleryMonitorSettings.DefaultSeparator;
        return new Inspected(await _remote.BroadcastAsync(Methods, separator).ConfigureAwait(false), detected);
    }

    private void Publish(Inspected inspected)
    {
        var replies = inspected.Replies;
        var workers = replies.Values.SelectMany(r => r.Keys).ToHashSet(StringComparer.Ordinal);
        // A worker that answered last round and some method of this one, but not this method, missed it; one that
        // answered nothing may simply have gone away, which the events actor reports.
        foreach (var method in Methods)
            foreach (var worker in _lastResponders.Where(w => workers.Contains(w) && !replies[method].ContainsKey(w)))
            {
                _metrics.CountMissingReply(method);
                _log.Debug("Worker {0} did not answer {1}", worker, method);
            }
        _lastResponders = workers;

        var consumers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var worker in workers)
        {
            var result = CeleryInspection.Read(worker, replies["stats"], replies["active"], replies["reserved"],
                replies["active_queues"]);
            _metrics.WorkerInspected(_metrics.Worker(worker), result.PoolSize, result.Active, result.Reserved);
            foreach (var queue in result.Queues ?? []) consumers[queue] = consumers.GetValueOrDefault(queue) + 1;
            _events.Tell(result);
        }
        // The queue watcher owns the queue gauges: it knows every queue, so one nobody consumes shows 0.
        if (consumers.Count > 0) _queueWatcher.Tell(new CeleryQueuesDiscovered(consumers.Keys.ToArray()));
        _queueWatcher.Tell(new CeleryQueueConsumersObserved(consumers));
    }

    private sealed record Inspect : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Inspect Instance = new();
    }

    private sealed record Inspected(
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>> Replies, string? Separator)
        : INoSerializationVerificationNeeded;

    private sealed record InspectFailed(Exception Cause) : INoSerializationVerificationNeeded;
}

/// <summary>Reads one worker's remote-control results into a <see cref="CeleryWorkerInspected"/>.</summary>
public static class CeleryInspection
{
    /// <summary>Combines what the four methods returned for <paramref name="worker"/>; absent answers stay null.</summary>
    public static CeleryWorkerInspected Read(string worker,
        IReadOnlyDictionary<string, JsonElement> stats, IReadOnlyDictionary<string, JsonElement> active,
        IReadOnlyDictionary<string, JsonElement> reserved, IReadOnlyDictionary<string, JsonElement> activeQueues)
    {
        int? pool = stats.TryGetValue(worker, out var s) && s.ValueKind == JsonValueKind.Object &&
                    s.TryGetProperty("pool", out var p) && p.ValueKind == JsonValueKind.Object &&
                    p.TryGetProperty("max-concurrency", out var c) && c.ValueKind == JsonValueKind.Number &&
                    c.TryGetInt32(out var n)
            ? n
            : null;
        var taskQueues = new Dictionary<string, string>(StringComparer.Ordinal);
        int? activeCount = Tasks(active, worker, taskQueues);
        int? reservedCount = Tasks(reserved, worker, taskQueues);
        IReadOnlyList<string>? queues = activeQueues.TryGetValue(worker, out var q) && q.ValueKind == JsonValueKind.Array
            ? q.EnumerateArray()
                .Select(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("name", out var name) &&
                             name.ValueKind == JsonValueKind.String ? name.GetString() : null)
                .OfType<string>().ToArray()
            : null;
        return new CeleryWorkerInspected(worker, pool, activeCount, reservedCount, queues, taskQueues);
    }

    private static int? Tasks(IReadOnlyDictionary<string, JsonElement> replies, string worker, Dictionary<string, string> taskQueues)
    {
        if (!replies.TryGetValue(worker, out var list) || list.ValueKind != JsonValueKind.Array) return null;
        var count = 0;
        foreach (var task in list.EnumerateArray())
        {
            count++;
            if (task.ValueKind == JsonValueKind.Object && task.TryGetProperty("id", out var id) &&
                id.ValueKind == JsonValueKind.String && task.TryGetProperty("delivery_info", out var info) &&
                info.ValueKind == JsonValueKind.Object && info.TryGetProperty("routing_key", out var rk) &&
                rk.ValueKind == JsonValueKind.String && id.GetString() is { } taskId && rk.GetString() is { Length: > 0 } queue)
                taskQueues[taskId] = queue;
        }
        return count;
    }
}
