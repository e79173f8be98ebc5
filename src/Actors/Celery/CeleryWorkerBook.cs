namespace CeleryActors.Actors.Celery;

/// <summary>
/// The Celery monitor's view of one broker's workers, free of the actor: which are online (heard from within the
/// worker timeout), since when the others are offline (their series go after the offline-series TTL), what remote
/// control said each consumes, and the lost-events check. A worker's heartbeat carries its running count of tasks
/// started; compared, as of the previous heartbeat (so task events the worker batches have had a heartbeat interval
/// to arrive), with the <c>task-started</c> events seen, a deficit is events lost. Times are seconds of the
/// monitor's monotonic clock. Not thread-safe.
/// </summary>
/// <param name="workerTimeout">Silence after which an online worker is offline.</param>
/// <param name="offlineSeriesTtl">How long an offline worker's series stay.</param>
public sealed class CeleryWorkerBook(TimeSpan workerTimeout, TimeSpan offlineSeriesTtl)
{
    private readonly Dictionary<string, WorkerState> _workers = new(StringComparer.Ordinal);
    // What remote control said each worker consumes; kept apart from _workers, as it may come before any event.
    private readonly Dictionary<string, IReadOnlyList<string>> _inspectedQueues = new(StringComparer.Ordinal);

    /// <summary>The workers known (online, or offline with series still shown).</summary>
    public IEnumerable<string> Workers => _workers.Keys;

    /// <summary>The worker sent an event at <paramref name="now"/>; true when it was not online before.</summary>
    public bool Seen(string worker, double now)
    {
        if (!_workers.TryGetValue(worker, out var state)) _workers[worker] = state = new WorkerState();
        state.LastSeen = now;
        if (state.Online) return false;
        state.Online = true;
        state.OfflineSince = null;
        return true;
    }

    /// <summary>The worker said it goes offline; true when it was online.</summary>
    public bool WentOffline(string worker, double now)
    {
        if (!_workers.TryGetValue(worker, out var state) || !state.Online) return false;
        Offline(state, now);
        return true;
    }

    /// <summary>A <c>task-started</c> of a worker that was <see cref="Seen"/>.</summary>
    public void Started(string worker) => _workers[worker].StartedSeen++;

    /// <summary>A heartbeat of a worker that was <see cref="Seen"/>, with its count of tasks started: how many more
    /// events are lost than counted so far (0 when none).</summary>
    public long Heartbeat(string worker, long processed)
    {
        var state = _workers[worker];
        if (state.ProcessedBase is not { } baseCount || processed < baseCount)
        {
            // First heartbeat seen, or the worker restarted and its count began again.
            state.ProcessedBase = processed;
            state.StartedSeen = 0;
            state.PreviousProcessed = processed;
            state.LostCounted = 0;
            return 0;
        }
        var deficit = state.PreviousProcessed - baseCount - state.StartedSeen;
        state.PreviousProcessed = processed;
        if (deficit <= state.LostCounted) return 0;
        var lost = deficit - state.LostCounted;
        state.LostCounted = deficit;
        return lost;
    }

    /// <summary>Remote control said what <paramref name="worker"/> consumes.</summary>
    public void Inspected(string worker, IReadOnlyList<string> queues) => _inspectedQueues[worker] = queues;

    /// <summary>The one queue remote control said <paramref name="worker"/> consumes, or null (none said, or several).</summary>
    public string? OnlyQueueOf(string worker) =>
        _inspectedQueues.TryGetValue(worker, out var queues) && queues is [var only] ? only : null;

    /// <summary>The subscription was restored: the outage was the node's, so the workers' silence is timed from
    /// <paramref name="now"/>.</summary>
    public void Resubscribed(double now)
    {
        foreach (var state in _workers.Values.Where(w => w.Online)) state.LastSeen = now;
    }

    /// <summary>Judges silence at <paramref name="now"/>: the online workers silent past the timeout go offline
    /// (with how long they were silent), and those offline past the TTL are forgotten.</summary>
    public (List<(string Worker, double Silent)> Silent, List<string> Gone) Sweep(double now)
    {
        var silent = new List<(string, double)>();
        var gone = new List<string>();
        foreach (var (worker, state) in _workers)
        {
            if (state.Online && now - state.LastSeen > workerTimeout.TotalSeconds)
            {
                silent.Add((worker, now - state.LastSeen));
                Offline(state, now);
            }
            else if (!state.Online && state.OfflineSince is { } since && now - since > offlineSeriesTtl.TotalSeconds)
                gone.Add(worker);
        }
        foreach (var worker in gone)
        {
            _workers.Remove(worker);
            _inspectedQueues.Remove(worker);
        }
        return (silent, gone);
    }

    private static void Offline(WorkerState state, double now)
    {
        state.Online = false;
        state.OfflineSince = now;
    }

    private sealed class WorkerState
    {
        public bool Online;
        public double LastSeen;
        public double? OfflineSince;
        public long? ProcessedBase;
        public long PreviousProcessed;
        public long StartedSeen;
        public long LostCounted;
    }
}
