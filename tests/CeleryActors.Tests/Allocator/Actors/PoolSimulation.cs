using System.Text.Json;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using CeleryActors.Tests.Fixtures;
using Xunit;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>The simulated workers and producer, and what they saw. All state is guarded by one lock: the
/// listener's thread, the test's thread and the transitions run on different threads.</summary>
internal sealed class PoolSimulation(AllocatorHarness h, Random random, TestKit kit)
{
    public static readonly string[] QueueNames = ["q0", "q1", "q2", "q3"];
    public static readonly string[] WorkerNames = ["w0", "w1", "w2", "w3", "w4"];
    private const long KeepAliveMs = 400;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private static readonly Dictionary<string, CapabilityValue> NeedsGpu = new() { ["gpu"] = CapabilityValue.Of("yes") };
    private readonly object _lock = new();
    private readonly Dictionary<string, PoolSimulationWorker> _workers = WorkerNames.Select((name, i) => new PoolSimulationWorker(name, i))
        .ToDictionary(w => w.Name);
    private readonly Dictionary<(string Queue, string Id), bool> _published = new();
    private readonly HashSet<(string Queue, string Id)> _finished = [];
    private readonly List<Task> _transitions = [];
    private readonly Queue<string> _trace = new();
    private int _assignments, _dropped, _zombieReports;

    public List<string> Violations { get; } = [];

    public string Summary
    {
        get
        {
            lock (_lock)
                return $"{_published.Count} published, {_finished.Count} finished by workers, {_assignments} assignments " +
                       $"({_dropped} to processes that were gone), {_zombieReports} reports from former holders";
        }
    }

    public string Trace
    {
        get { lock (_lock) return string.Join("\n", _trace); }
    }

    public List<string> PublishedIn(string queue)
    {
        lock (_lock) return _published.Keys.Where(k => k.Queue == queue).Select(k => k.Id).ToList();
    }

    public async Task Run(int steps)
    {
        lock (_lock)
            foreach (var w in _workers.Values)
            {
                w.Register(RandomQueues(), random.Next(1, 5));
                Send(w, w.Registration);
            }
        for (var step = 0; step < steps; step++)
        {
            lock (_lock)
            {
                KeepAlive();
                var roll = random.Next(100);
                if (roll < 30) Publish();
                else if (roll < 72) Progress();
                else if (roll < 84) Heartbeat(Pick(w => w.Speaks));
                else if (roll < 91) Reregister(Pick(w => w.Speaks && !w.Busy), restart: false);
                else if (roll < 96) Reregister(Pick(w => w.Speaks && !w.Busy), restart: true);
                else if (_workers.Values.Count(w => w.Silent) < 2) Silence(Pick(w => w.Speaks && !w.Busy));
            }
            await Task.Delay(random.Next(2, 10));
        }
        await Transitions();
    }

    /// <summary>Every worker comes back on every queue, and they finish what they get until nothing is left.</summary>
    public async Task Drain(TimeSpan deadline)
    {
        lock (_lock)
            foreach (var w in _workers.Values) Reregister(w, restart: false, everything: true);
        await Transitions();
        var until = DateTime.UtcNow + deadline;
        while (true)
        {
            lock (_lock)
            {
                KeepAlive();
                foreach (var w in _workers.Values)
                    foreach (var task in w.Held.Keys.ToList()) Finish(w, task);
            }
            if (await AllFinished()) return;
            if (DateTime.UtcNow > until) throw new TimeoutException($"not everything finished within {deadline}: {Summary}");
            await Task.Delay(20);
        }
    }

    /// <summary>The listener: a worker acknowledges at once what it is given, and checks its pool.</summary>
    public void OnAssigned(Assignment a)
    {
        using var doc = JsonDocument.Parse(a.Json);
        var key = (doc.RootElement.GetProperty("queue").GetString()!, a.TaskId);
        lock (_lock)
        {
            _assignments++;
            if (_finished.Contains(key)) return; // finished by a former holder while this attempt was on its way
            var w = _workers[a.Worker];
            if (!w.Hears(key.Item1))
            {
                _dropped++;
                return;
            }
            // A later attempt means the node took the task back from whoever had it before.
            foreach (var other in _workers.Values) other.Held.Remove(key);
            w.Held[key] = a.Attempt;
            Log($"{w.Name} got {key} attempt {a.Attempt}: holds {w.Held.Count} of {w.Allowed}");
            if (w.Held.Count > w.Allowed)
                Violations.Add($"{w.Name} holds {w.Held.Count} with pool {w.Allowed} after {key} attempt {a.Attempt}: " +
                               string.Join(", ", w.Held.Keys));
            Report(w, key, TaskProgress.Received);
        }
    }

    private void Publish()
    {
        var queue = QueueNames[random.Next(QueueNames.Length)];
        var id = $"t{_published.Count}";
        _published[(queue, id)] = true;
        var requires = random.Next(10) == 0 ? NeedsGpu : null;
        Log($"publish {queue}/{id}{(requires is null ? "" : " (gpu)")}");
        h.Queues.Tell(new SubmitTask(queue, id, "job", "{}", random.Next(10), requires, null, AllocatorSettings.Now()),
            ActorRefs.NoSender);
    }

    private void Progress()
    {
        var w = Pick(x => x.Speaks && !x.Deaf && x.Held.Count > 0);
        if (w is null) return;
        var task = w.Held.Keys.ElementAt(random.Next(w.Held.Count));
        if (w.Started.Add(task) && random.Next(2) == 0) Report(w, task, TaskProgress.Started);
        else Finish(w, task);
    }

    private void Finish(PoolSimulationWorker w, (string Queue, string Id) task)
    {
        var failed = random.Next(5) == 0;
        Report(w, task, failed ? TaskProgress.Failed : TaskProgress.Succeeded);
        Done(task);
    }

    // Whoever finished it, nobody holds it any more (the queue frees the current holder's slot).
    private void Done((string Queue, string Id) task)
    {
        _finished.Add(task);
        foreach (var other in _workers.Values) other.Forget(task);
    }

    private void Heartbeat(PoolSimulationWorker? w)
    {
        if (w is null) return;
        IReadOnlyList<string>? running = w.SendsRunning ? w.Held.Keys.Select(k => k.Id).ToList() : null;
        Send(w, new WorkerHeartbeat(w.Name, Running: running));
    }

    private void KeepAlive()
    {
        var now = Environment.TickCount64;
        foreach (var w in _workers.Values.Where(w => w.Speaks && now - w.LastSpoke > KeepAliveMs)) Heartbeat(w);
    }

    /// <summary>
    /// A registration with new queues and pool (a restart: also a new instance, and everything held is gone).
    /// Until the node has taken it in, grants it made before may still land: the worker allows its old pool
    /// and drops what comes for queues it left, then a fence behind the entities' publications ends that.
    /// </summary>
    private void Reregister(PoolSimulationWorker? w, bool restart, bool everything = false)
    {
        if (w is null) return;
        var (old, oldPool) = (w.Queues, w.Pool);
        w.Reregister(everything ? [.. QueueNames] : RandomQueues(), everything ? 4 : random.Next(1, 5), restart);
        Log($"{w.Name} registers {(restart ? "as a new instance " : "")}on {string.Join(",", w.Queues)} pool {w.Pool} (was {oldPool})");
        var registration = w.Registration;
        Send(w, registration);
        var touched = old.Union(w.Queues).ToList();
        _transitions.Add(Task.Run(async () =>
        {
            await kit.AwaitAssertAsync(async () =>
            {
                var s = await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(w.Name), Wait);
                Assert.Equal((registration.PoolSize, registration.Instance), (s.PoolSize, s.Instance));
                Assert.Equal(registration.Queues, s.Queues);
            }, Wait);
            await Settled(w, touched);
            lock (_lock)
            {
                w.TakenIn();
                Log($"{w.Name} registration taken in");
            }
        }));
    }

    /// <summary>The process stops speaking; once the node has declared it offline it comes back (same
    /// instance), first reporting one task it had as done - a former holder's report, which may finish it.</summary>
    private void Silence(PoolSimulationWorker? w)
    {
        if (w is null) return;
        w.GoSilent();
        var held = w.Held.Keys.ToList(); // the node gives them to others meanwhile
        Log($"{w.Name} goes silent holding {held.Count}");
        _transitions.Add(Task.Run(async () =>
        {
            await kit.AwaitAssertAsync(async () =>
                Assert.False((await h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(w.Name), Wait)).Online),
                TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
            await Settled(w, w.Queues);
            lock (_lock)
            {
                var old = held.Where(k => !_finished.Contains(k)).ToList();
                w.ComeBack();
                if (old.Count > 0)
                {
                    var task = old[random.Next(old.Count)];
                    _zombieReports++;
                    Log($"{w.Name} is back and reports {task} done");
                    Report(w, task, TaskProgress.Succeeded);
                    Done(task);
                }
                else Log($"{w.Name} is back");
                Heartbeat(w);
            }
        }));
    }

    // Every queue has written (and so published) what it decided before the worker entity's last change, and
    // every assignment published so far has reached the listener.
    private async Task Settled(PoolSimulationWorker w, IEnumerable<string> queues)
    {
        foreach (var queue in queues)
            await kit.AwaitAssertAsync(async () =>
                Assert.Equal(0, (await h.Queues.Ask<QueueStats>(new GetQueueStats(queue), Wait)).Unwritten), Wait);
        await h.Fence(w.Name, Wait);
    }

    private async Task<bool> AllFinished()
    {
        foreach (var queue in QueueNames)
        {
            var count = PublishedIn(queue).Count;
            var s = await h.Queues.Ask<QueueStats>(new GetQueueStats(queue), Wait);
            if (s.Accepted != count || s.Succeeded + s.Failed != count || s.Pending != 0 || s.InFlight != 0) return false;
        }
        return true;
    }

    // The workers that speak go on heartbeating meanwhile: a silence of theirs would take their tasks back.
    private async Task Transitions()
    {
        while (true)
        {
            Task[] running;
            lock (_lock)
            {
                KeepAlive();
                _transitions.RemoveAll(t => t.IsCompletedSuccessfully);
                running = _transitions.ToArray();
            }
            if (running.Length == 0) return;
            await Task.WhenAny(Task.WhenAll(running), Task.Delay(50));
            if (running.FirstOrDefault(t => t.IsFaulted) is { } failed) await failed;
        }
    }

    // Half the workers name the queue in their reports, which then go to the queue as the node's intake sends them.
    private void Report(PoolSimulationWorker w, (string Queue, string Id) task, TaskProgress progress) =>
        Send(w, new WorkerTaskStatus(w.Name, task.Id, progress, progress >= TaskProgress.Succeeded ? 0.01 : null,
            progress == TaskProgress.Failed ? "Boom" : null, Queue: w.SendsQueue ? task.Queue : null));

    private void Send(PoolSimulationWorker w, IPubSubCommand command)
    {
        w.LastSpoke = Environment.TickCount64;
        WireRouting.Send(command, h.Queues, h.Workers);
    }

    private List<string> RandomQueues()
    {
        var chosen = QueueNames.Where(_ => random.Next(2) == 0).ToList();
        return chosen.Count > 0 ? chosen : [QueueNames[random.Next(QueueNames.Length)]];
    }

    private PoolSimulationWorker? Pick(Func<PoolSimulationWorker, bool> which)
    {
        var candidates = _workers.Values.Where(which).ToList();
        return candidates.Count == 0 ? null : candidates[random.Next(candidates.Count)];
    }

    private void Log(string line)
    {
        _trace.Enqueue($"{Environment.TickCount64 % 1_000_000,6} {line}");
        if (_trace.Count > 300) _trace.Dequeue();
    }
}
