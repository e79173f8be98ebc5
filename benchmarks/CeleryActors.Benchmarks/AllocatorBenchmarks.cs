using BenchmarkDotNet.Attributes;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The allocator's in-memory work on one thread: the priority mailbox, the pick of the worker to offer to among
/// 100, and a whole allocation decision on a queue's state (pick the most urgent task a granted slot's worker can
/// take, apply the allocation; the task's completion is applied too so the state stays steady).
/// </summary>
[MemoryDiagnoser]
public class AllocatorBenchmarks
{
    private const int Burst = 1_000;
    private readonly PriorityMailbox<string> _mailbox = new();
    private readonly string[] _ids = Enumerable.Range(0, Burst).Select(i => "t" + i).ToArray();
    private readonly int[] _priorities = Enumerable.Range(0, Burst).Select(i => (i * 7) % 10).ToArray();
    private List<WorkerSlot> _workers = null!;
    private Dictionary<string, CapabilityValue> _caps = null!;
    private QueueState _state = null!;
    private TaskAccepted[] _accepted = null!;
    private long _sequence;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _caps = new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(8), ["zone"] = CapabilityValue.Of("eu") };
        _workers = Enumerable.Range(0, 100).Select(i => new WorkerSlot($"w{i}", _caps) { Free = 1_000, Held = 500 + (i * 37) % 400 }).ToList();
        _state = new QueueState("bench");
        // A backlog, so every decision looks at a real mailbox; a group of tasks nobody can take beside it.
        for (var i = 0; i < 10_000; i++)
            _state.Apply(new TaskAccepted($"backlog{i}", "job", "{}", i % 10, null, 1));
        for (var i = 0; i < 1_000; i++)
            _state.Apply(new TaskAccepted($"gpu{i}", "job", "{}", 9, new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(1) }, 1));
        _accepted = Enumerable.Range(0, 4_096).Select(i => new TaskAccepted($"n{i}", "job", "{}", i % 10, null, 1)).ToArray();
        for (var i = 0; i < 700 && _state.Allocate($"w{i % 100}", _caps, 2) is { } a; i++) _state.Apply(a);
    }

    private const int Backlog = 100_000;
    private QueueState _fresh = null!;

    /// <summary>A queue with 100,000 waiting tasks of mixed priorities, rebuilt before each iteration (not
    /// measured).</summary>
    [IterationSetup(Target = nameof(DecideAndApplyAllocation))]
    public void FreshQueue()
    {
        _fresh = new QueueState("bench");
        for (var i = 0; i < Backlog; i++) _fresh.Apply(new TaskAccepted($"b{i}", "job", "{}", (i * 7) % 10, null, 1));
    }

    /// <summary>The allocation decision of one granted slot: pick the most urgent task (priority, FIFO) whose
    /// requirements the worker meets, and update the state (mailbox, in-flight, holders, ack deadline, history).
    /// 100,000 decisions per invocation on the fresh queue, over 100 workers in turn.</summary>
    [Benchmark(OperationsPerInvoke = Backlog)]
    [InvocationCount(1)]
    public int DecideAndApplyAllocation()
    {
        var n = 0;
        while (_fresh.Allocate(_workers[n % 100].Name, _caps, 2) is { } allocation)
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

    /// <summary>Pick the least loaded of 100 capable workers with room to offer a task to.</summary>
    [Benchmark(OperationsPerInvoke = 100)]
    public int ChooseAmong100Workers()
    {
        var total = 0;
        for (var i = 0; i < 100; i++)
        {
            var w = AllocationDecision.Choose(_workers, null)!;
            w.Held++;
            total += w.Held;
            w.Held--;
        }
        return total;
    }

    /// <summary>A whole task cycle on a queue with 10,000 waiting tasks and 1,000 that nobody can take: decide the
    /// allocation of a granted slot, apply it, and apply the completion of the task; one new task arrives per
    /// decision.</summary>
    [Benchmark(OperationsPerInvoke = 100)]
    public long AcceptAllocateCompleteCycle()
    {
        long attempts = 0;
        for (var i = 0; i < 100; i++)
        {
            var accepted = _accepted[_next++ & 4_095] with { TaskId = "x" + _next };
            _state.Apply(accepted);
            var allocation = _state.Allocate(_workers[i].Name, _caps, 3)!;
            _state.Apply(allocation);
            attempts += allocation.Attempt;
            _state.Apply(new TaskSucceeded(allocation.TaskId, allocation.Worker, 0.1, 4));
        }
        return attempts;
    }
}
