using BenchmarkDotNet.Attributes;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The allocator's in-memory work on one thread: the priority mailbox, the pick of a worker among 100, and a
/// whole allocation decision on a queue's state (pick the task and the worker, apply the allocation; the task's
/// completion is applied too so the state stays steady).
/// </summary>
[MemoryDiagnoser]
public class AllocatorBenchmarks
{
    private const int Burst = 1_000;
    private readonly PriorityMailbox<string> _mailbox = new();
    private readonly string[] _ids = Enumerable.Range(0, Burst).Select(i => "t" + i).ToArray();
    private readonly int[] _priorities = Enumerable.Range(0, Burst).Select(i => (i * 7) % 10).ToArray();
    private List<WorkerSlot> _workers = null!;
    private QueueState _state = null!;
    private TaskAccepted[] _accepted = null!;
    private long _sequence;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var caps = new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(8), ["zone"] = CapabilityValue.Of("eu") };
        _workers = Enumerable.Range(0, 100).Select(i => new WorkerSlot($"w{i}", caps, 1_000) { Load = 500 + (i * 37) % 400 }).ToList();
        _state = new QueueState("bench");
        for (var i = 0; i < 100; i++)
            _state.UpsertWorker(new WorkerServesQueue("bench", $"w{i}", caps, 8));
        // A backlog, so every decision looks at a real mailbox.
        for (var i = 0; i < 10_000; i++)
            _state.Apply(new TaskAccepted($"backlog{i}", "job", "{}", i % 10, null, 1));
        _accepted = Enumerable.Range(0, 4_096).Select(i => new TaskAccepted($"n{i}", "job", "{}", i % 10, null, 1)).ToArray();
        // Fill every worker to 7 of 8 so each decision scans all 100 for the least loaded.
        while (_state.NextAllocation(2) is { } a && _state.InFlightCount < 700) _state.Apply(a);
    }

    private const int Backlog = 100_000;
    private QueueState _fresh = null!;

    /// <summary>A queue of 100 workers (10,000 slots each, so none fills up) and 100,000 waiting
    /// tasks of mixed priorities, rebuilt before each iteration (not measured).</summary>
    [IterationSetup(Target = nameof(DecideAndApplyAllocation))]
    public void FreshQueue()
    {
        var caps = new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(8) };
        _fresh = new QueueState("bench");
        for (var i = 0; i < 100; i++) _fresh.UpsertWorker(new WorkerServesQueue("bench", $"w{i}", caps, 10_000));
        for (var i = 0; i < Backlog; i++) _fresh.Apply(new TaskAccepted($"b{i}", "job", "{}", (i * 7) % 10, null, 1));
    }

    /// <summary>The allocation decision as the issue defines it: pick the next task (priority, FIFO) and the least
    /// loaded of 100 workers with room, and update the state (mailbox, in-flight, worker load, ack deadline,
    /// history). 100,000 decisions per invocation on the fresh queue.</summary>
    [Benchmark(OperationsPerInvoke = Backlog)]
    [InvocationCount(1)]
    public int DecideAndApplyAllocation()
    {
        var n = 0;
        while (_fresh.NextAllocation(2) is { } allocation)
        {
            _fresh.Apply(allocation);
            n++;
        }
        return n;
    }

    /// <summary>A burst of 1,000 tasks of mixed priorities in and out of the mailbox (per task).</summary>
    [Benchmark(OperationsPerInvoke = Burst)]
    public int MailboxEnqueueDequeue()
    {
        for (var i = 0; i < Burst; i++) _mailbox.Enqueue(_ids[i], _priorities[i], _sequence++, _ids[i]);
        var n = 0;
        while (_mailbox.Dequeue() is not null) n++;
        return n;
    }

    /// <summary>Pick the least loaded of 100 capable workers with room, and count the task on it.</summary>
    [Benchmark(OperationsPerInvoke = 100)]
    public int ChooseAmong100Workers()
    {
        var total = 0;
        for (var i = 0; i < 100; i++)
        {
            var w = AllocationDecision.Choose(_workers, null)!;
            w.Load++;
            total += w.Load;
            w.Load--;
        }
        return total;
    }

    /// <summary>A whole task cycle on a queue of 100 workers and 10,000 waiting tasks: decide the next allocation
    /// (task by priority, worker by load), apply it, and apply the completion of the task that frees its slot;
    /// one new task arrives per decision.</summary>
    [Benchmark(OperationsPerInvoke = 100)]
    public long AcceptAllocateCompleteCycle()
    {
        long attempts = 0;
        for (var i = 0; i < 100; i++)
        {
            var accepted = _accepted[_next++ & 4_095] with { TaskId = "x" + _next };
            _state.Apply(accepted);
            var allocation = _state.NextAllocation(3)!;
            _state.Apply(allocation);
            attempts += allocation.Attempt;
            _state.Apply(new TaskSucceeded(allocation.TaskId, allocation.Worker, 0.1, 4));
        }
        return attempts;
    }
}
