using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// What a worker entity knows of its worker's reports beyond its pool: which held tasks the worker started (for its
/// gauges), the reports that came before the queue's notice of their task, and the tasks it let go a moment ago.
/// Only reports that name no queue pass here; a queue takes those that name it straight from the wire, and tells the
/// entity what it needs of them (<see cref="TaskReleasedFromWorker"/>, <see cref="WorkerHeard"/>).
/// A worker's reply can overtake the queue's notice (they travel different paths), and dropping it would cost a
/// redelivery, so such reports wait here a few seconds; a late report of a task the worker let go still reaches
/// that task's queue (<see cref="RecentlyFinished"/>). Bounded by age and count; plain and single-threaded.
/// </summary>
public sealed class WorkerReports
{
    private const int MaxEarlyReports = 10_000;
    // A task has four reports at most (received, started, an outcome, a retry), and a replay may repeat them.
    private const int MaxEarlyReportsPerTask = 8;
    private const int MaxFinished = 50_000;
    private const long EarlyReportLifetimeMs = 5_000;
    private readonly HashSet<(string Queue, string TaskId)> _started = [];
    private readonly Dictionary<string, int> _startedTold = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long At, List<WorkerTaskStatus> Reports)> _early = new(StringComparer.Ordinal);
    private readonly RecentlyFinished _finished;
    private readonly string _worker;
    private readonly Action<IQueueCommand> _send;
    private readonly Action<WorkerTaskStatus> _ignored;

    /// <summary>Creates an empty record.</summary>
    /// <param name="worker">The worker.</param>
    /// <param name="finishedLifetime">How long the tasks let go are remembered.</param>
    /// <param name="send">Sends a report on to a queue entity.</param>
    /// <param name="ignored">Told of each early report dropped unplaced (too old, or no room for it).</param>
    public WorkerReports(string worker, TimeSpan finishedLifetime, Action<IQueueCommand> send,
        Action<WorkerTaskStatus> ignored)
    {
        _worker = worker;
        _finished = new RecentlyFinished(MaxFinished, finishedLifetime);
        _send = send;
        _ignored = ignored;
    }

    /// <summary>
    /// Passes a report on to the queue of its task: the queue where the worker holds it (<paramref name="slots"/>
    /// frees the slot of an outcome), else the queue it names or the one the task was let go from, which decides (a
    /// former holder may finish it) and counts what it ignores. A replay comes in a burst, often to an entity that has
    /// just started and knows nothing yet: rather than fill the early reports, it goes to every queue of the worker,
    /// and the one that holds the task applies it (the others ignore it, uncounted). Anything else waits here for
    /// its task.
    /// </summary>
    public void Route(WorkerSlots? slots, WorkerTaskStatus status, long nowMs)
    {
        if ((slots?.Holding(status) ?? status.Queue ?? RecentQueueOf(status.TaskId)) is { } queue)
            Report(queue, status);
        else if (status.Replayed && slots is not null)
            foreach (var q in slots.Pool.Queues) Report(q, status);
        else KeepEarly(status, nowMs);
    }

    private void Report(string queue, WorkerTaskStatus status) => _send(ReportOf(status, queue, direct: false));

    /// <summary>The command a queue takes for <paramref name="status"/>, a report of one of its tasks.</summary>
    /// <param name="status">The report.</param>
    /// <param name="queue">The task's queue.</param>
    /// <param name="direct">Taken from the wire by the queue's node rather than passed on by the worker's entity.</param>
    public static ReportTaskProgress ReportOf(WorkerTaskStatus status, string queue, bool direct) =>
        new(queue, status.TaskId, status.Worker, status.Progress, status.Runtime, status.Exception, status.Replayed,
            direct);

    /// <summary>Held tasks the worker started: as its queues told (<see cref="StartedIn"/>), where they take its
    /// reports themselves, else as the reports that passed here said.</summary>
    public int StartedCount => _startedTold.Values.Sum() + _started.Count(s => !_startedTold.ContainsKey(s.Queue));

    /// <summary><paramref name="queue"/>, which takes the worker's reports itself, says <paramref name="started"/>
    /// of the tasks the worker holds there are started.</summary>
    public void StartedIn(string queue, int started) => _startedTold[queue] = started;

    /// <summary>The worker no longer serves <paramref name="queue"/>: what the queue told of it is void.</summary>
    public void Left(string queue) => _startedTold.Remove(queue);

    /// <summary>The worker started <paramref name="taskId"/> of <paramref name="queue"/>, which it holds.</summary>
    public void Started(string queue, string taskId) => _started.Add((queue, taskId));

    /// <summary>The worker no longer holds <paramref name="taskId"/> (finished, or taken back): its late reports
    /// go to <paramref name="queue"/>.</summary>
    public void Let(string queue, string taskId, long nowMs)
    {
        _started.Remove((queue, taskId));
        _finished.Add(taskId, queue, nowMs);
    }

    /// <summary>The queue of a task the worker let go a moment ago, or null.</summary>
    public string? RecentQueueOf(string taskId) => _finished.TryGet(taskId, out var queue) ? queue : null;

    /// <summary>The worker was given <paramref name="taskId"/> (again): the reports that came early for it.</summary>
    public IReadOnlyList<WorkerTaskStatus> Assigned(string taskId)
    {
        _finished.Remove(taskId);
        return _early.Remove(taskId, out var early) ? early.Reports : [];
    }

    /// <summary>The early reports of every task <paramref name="holds"/> says the worker holds now.</summary>
    public List<WorkerTaskStatus> HeldNow(Func<string, bool> holds)
    {
        var reports = new List<WorkerTaskStatus>();
        foreach (var id in _early.Keys.Where(holds).ToList())
            if (_early.Remove(id, out var early)) reports.AddRange(early.Reports);
        return reports;
    }

    /// <summary>Keeps a report of a task the entity has not heard of, or drops it as ignored when there is no
    /// room for it (too many tasks waiting, or this one reported again and again).</summary>
    public void KeepEarly(WorkerTaskStatus status, long nowMs)
    {
        if (_early.Count >= MaxEarlyReports) ForgetStale(nowMs);
        if (!_early.TryGetValue(status.TaskId, out var entry))
        {
            if (_early.Count >= MaxEarlyReports)
            {
                _ignored(status);
                return;
            }
            _early[status.TaskId] = entry = (nowMs, []);
        }
        if (entry.Reports.Count >= MaxEarlyReportsPerTask) _ignored(status);
        else entry.Reports.Add(status);
    }

    /// <summary>Forgets what is too old at <paramref name="nowMs"/>; early reports dropped so are ignored.</summary>
    public void ForgetStale(long nowMs)
    {
        _finished.Trim(nowMs);
        if (_early.Count == 0) return;
        foreach (var old in _early.Where(e => nowMs - e.Value.At > EarlyReportLifetimeMs).Select(e => e.Key).ToList())
        {
            _early.Remove(old, out var stale);
            foreach (var report in stale.Reports) _ignored(report);
        }
    }
}
