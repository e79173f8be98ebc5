using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>An assignment the entities published, as the probe standing in for Redis saw it.</summary>
internal sealed record AssignmentPublished(string Worker, string TaskId, string Queue, int Attempt);

/// <summary>The entities' Redis as a probe sees it: assignments go to the probe, the queue cap is a set.</summary>
internal sealed class ProbeRedis(IActorRef probe, int cap = int.MaxValue) : IAllocatorRedis
{
    private readonly HashSet<string> _queues = [];

    public void PublishAssignment(string worker, byte[] assignment)
    {
        using var doc = JsonDocument.Parse(assignment);
        var root = doc.RootElement;
        probe.Tell(new AssignmentPublished(worker, root.GetProperty("task_id").GetString()!,
            root.GetProperty("queue").GetString()!, root.GetProperty("attempt").GetInt32()));
    }

    public Task<bool> AdmitQueueAsync(string queue, int maxQueues)
    {
        lock (_queues) return Task.FromResult(_queues.Contains(queue) || (_queues.Count < Math.Min(cap, maxQueues) && _queues.Add(queue)));
    }

    public void ListQueue(string queue)
    {
        lock (_queues) _queues.Add(queue);
    }

    public void ListWorker(string worker) { }
}

/// <summary>
/// The queue and worker entities together in one actor system with Akka's in-memory journal, and a probe where they
/// publish: the slot protocol and the leases without Redis. (<see cref="AllocatorEntityTestBase"/> runs them on a real
/// Redis journal and channels.)
/// </summary>
public class AllocatorEntitySpecs : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly Dictionary<string, CapabilityValue> NoCaps = new();
    private static readonly Config InMemory = ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    private readonly Akka.TestKit.TestProbe _published;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly AllocatorMetrics _metrics;

    public AllocatorEntitySpecs(ITestOutputHelper output) : base(InMemory, output: output)
    {
        _published = CreateTestProbe();
        var settings = AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
        var metrics = _metrics = new AllocatorMetrics(new CeleryMetrics(Prometheus.Metrics.NewCustomRegistry(), 1_000));
        var redis = new ProbeRedis(_published.Ref, cap: 3);
        var registry = ActorRegistry.For(Sys);
        registry.Register<MetricsRecorderActor>(CreateTestProbe().Ref);
        _queues = Sys.ActorOf(Props.Create(() => new LocalRegion(q => QueueEntityActor.Props(q, settings, redis, metrics, registry))));
        _workers = Sys.ActorOf(Props.Create(() => new LocalRegion(w => WorkerEntityActor.Props(w, settings, redis, metrics, registry))));
        registry.Register<QueueRegion>(_queues);
        registry.Register<WorkerRegion>(_workers);
    }

    private void Submit(string queue, string id, int priority = 5) =>
        _queues.Tell(new SubmitTask(queue, id, "job", "{}", priority, null, null, AllocatorSettings.Now()), ActorRefs.NoSender);

    private List<AssignmentPublished> Assignments(int count) =>
        Enumerable.Range(0, count).Select(_ => _published.ExpectMsg<AssignmentPublished>(Wait)).ToList();

    [Fact]
    public void A_pool_of_two_over_three_queues_runs_two_tasks_of_the_only_queue_with_work()
    {
        _workers.Tell(new RegisterWorker("w", ["qa", "qb", "qc"], NoCaps, 2));
        for (var i = 0; i < 4; i++) Submit("qc", $"t{i}");

        var assigned = Assignments(2);
        Assert.All(assigned, a => Assert.Equal(("w", "qc"), (a.Worker, a.Queue)));
        _published.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // the pool is full
    }

    [Fact]
    public void Each_journal_write_is_timed_before_what_waited_for_it_goes_out()
    {
        _workers.Tell(new RegisterWorker("w", ["qj"], NoCaps, 1));
        Submit("qj", "t");
        Assignments(1);
        // The accepted task and its allocation: at least one write, and the assignment waited for it.
        Assert.True(_metrics.JournalWrite.Count >= 1, $"{_metrics.JournalWrite.Count} writes timed");
        Assert.True(_metrics.JournalWrite.Sum >= 0);
    }

    [Fact]
    public void A_freed_slot_takes_the_more_urgent_of_the_tasks_waiting_in_two_queues()
    {
        _workers.Tell(new RegisterWorker("w", ["qa", "qb"], NoCaps, 1));
        Submit("qa", "first");
        var running = Assignments(1)[0];
        Submit("qa", "low", priority: 1);
        Submit("qb", "high", priority: 9);
        _published.ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        _workers.Tell(new WorkerTaskStatus("w", running.TaskId, TaskProgress.Succeeded, 0.01, null));

        Assert.Equal(("high", "qb"), Assignments(1).Select(a => (a.TaskId, a.Queue)).Single());
    }

    [Fact]
    public void A_new_instance_of_a_worker_gets_back_what_its_old_process_held_as_a_second_attempt()
    {
        _workers.Tell(new RegisterWorker("w", ["qa"], NoCaps, 1, Instance: "pid-1"));
        Submit("qa", "t1");
        Assert.Equal(1, Assignments(1)[0].Attempt);

        _workers.Tell(new RegisterWorker("w", ["qa"], NoCaps, 1, Instance: "pid-2"));

        var again = Assignments(1)[0];
        Assert.Equal(("t1", 2), (again.TaskId, again.Attempt));
    }

    [Fact]
    public async Task A_queue_past_the_cluster_cap_refuses_its_tasks_and_publishes_nothing()
    {
        foreach (var queue in new[] { "q1", "q2", "q3" })
        {
            Submit(queue, "t-" + queue);
            await _queues.Ask<QueueStats>(new GetQueueStats(queue), Wait); // answered once its place is decided
        }
        _workers.Tell(new RegisterWorker("w", ["q4"], NoCaps, 4)); // the cap of 3 is taken: q4 gets no place

        _queues.Tell(new SubmitTask("q4", "late", "job", "{}", 5, null, null, AllocatorSettings.Now()), TestActor);

        Assert.Equal("late", ExpectMsg<TaskRefused>(Wait).TaskId);
        _published.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
