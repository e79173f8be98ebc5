namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The workers whose reports a queue took straight from the wire, and when their entities were last told of them
/// (<see cref="Messages.Allocator.WorkerHeard"/>). A worker's entity keeps its liveness and gauges, but no longer
/// sees such reports: it is told at once when the worker was not heard of here for an interval, else with the
/// queue's next sweep, so the notices cost a few messages per second, not one per report. Plain and single-threaded;
/// a worker silent for a few intervals is forgotten, so a flood of names holds no memory.
/// </summary>
/// <param name="intervalMs">The least time between two notices of one worker (the queue's sweep interval).</param>
public sealed class HeardWorkers(long intervalMs)
{
    private const int ForgetAfterIntervals = 4;
    private readonly Dictionary<string, (long ToldMs, bool Due)> _workers = new(StringComparer.Ordinal);

    /// <summary>The worker spoke at <paramref name="nowMs"/> (monotonic).</summary>
    /// <returns>Whether its entity is to be told now; otherwise the notice waits for <see cref="TakeDue"/>.</returns>
    public bool Heard(string worker, long nowMs)
    {
        if (_workers.TryGetValue(worker, out var known) && nowMs - known.ToldMs < intervalMs)
        {
            if (!known.Due) _workers[worker] = (known.ToldMs, true);
            return false;
        }
        _workers[worker] = (nowMs, false);
        return true;
    }

    /// <summary>The workers heard since their last notice, which is due now; workers long silent are forgotten.</summary>
    public List<string> TakeDue(long nowMs)
    {
        var due = new List<string>();
        List<string>? silent = null;
        foreach (var (worker, (toldMs, isDue)) in _workers)
        {
            if (isDue) due.Add(worker);
            else if (nowMs - toldMs > intervalMs * ForgetAfterIntervals) (silent ??= []).Add(worker);
        }
        foreach (var worker in due) _workers[worker] = (nowMs, false);
        if (silent is not null) foreach (var worker in silent) _workers.Remove(worker);
        return due;
    }
}
