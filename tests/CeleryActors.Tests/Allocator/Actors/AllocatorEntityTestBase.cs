using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>The allocator's queue and worker entities in one actor system on a real Redis (journal, snapshots and
/// the workers' channels, through <see cref="AllocatorHarness"/>), with the helpers their specs share.</summary>
public abstract class AllocatorEntityTestBase(RedisFixture redis, ITestOutputHelper output)
    : TestKit(AllocatorHarness.SystemConfig(redis.Server.ConnectionString), output: output)
{
    /// <summary>One collection for all of them: they ran as one class, one test at a time, and still do.</summary>
    public const string Collection = "allocator entities on Redis";

    /// <summary>The test class's private redis-server.</summary>
    protected RedisFixture Redis => redis;

    private protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private protected static readonly Dictionary<string, CapabilityValue> NoCaps = new();

    private protected const string Q = "work";

    private protected AllocatorHarness Start(TimeSpan? ack = null, TimeSpan? worker = null, int snapshotEvery = 1_000) =>
        new(Sys, Redis.Server.ConnectionString, Redis.Connection,
            AllocatorHarness.NewSettings(ack ?? TimeSpan.FromSeconds(30), worker ?? TimeSpan.FromSeconds(30), snapshotEvery),
            CreateTestProbe().Ref);

    private protected static SubmitTask NewTask(string id, int priority = 5, Dictionary<string, CapabilityValue>? requires = null) =>
        new(Q, id, "job", "{}", priority, requires, null, AllocatorSettings.Now());

    private protected QueueStats Stats(AllocatorHarness h) => h.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait).Result;

    private protected static void Report(AllocatorHarness h, string worker, string task, TaskProgress progress) =>
        h.Workers.Tell(new WorkerTaskStatus(worker, task, progress, progress >= TaskProgress.Succeeded ? 0.01 : null,
            progress == TaskProgress.Failed ? "Boom" : null));

    // Entities that hold nothing passivate after 2 s without messages.
    private protected AllocatorHarness StartIdling(TimeSpan workerTimeout) =>
        new(Sys, Redis.Server.ConnectionString, Redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), workerTimeout) with { IdleUnregistered = TimeSpan.FromSeconds(2) },
            CreateTestProbe().Ref);

    // The region starts an entity when it takes its first message, a moment after the Tell.
    private protected async Task<IActorRef> WorkerEntity(AllocatorHarness h, string worker)
    {
        IActorRef entity = ActorRefs.Nobody;
        await AwaitAssertAsync(async () => entity = await Sys.ActorSelection(h.Workers.Path / worker).ResolveOne(Wait),
            TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(20));
        return entity;
    }

    private protected QueueStats Stats(AllocatorHarness h, string queue) =>
        h.Queues.Ask<QueueStats>(new GetQueueStats(queue), Wait).Result;

    private protected static int Unfinished(AllocatorHarness h, string worker) =>
        h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), Wait).Result.UnfinishedTasks;

    private protected static SubmitTask On(string queue, string id, int priority = 5, Dictionary<string, CapabilityValue>? requires = null) =>
        NewTask(id, priority, requires) with { Queue = queue };

    private protected async Task<IActorRef> StopEntity(IActorRef region, string id)
    {
        var entity = await Sys.ActorSelection(region.Path / id).ResolveOne(Wait);
        Watch(entity);
        entity.Tell(PoisonPill.Instance); // as if its node had died
        ExpectTerminated(entity, Wait);
        return entity;
    }

    private protected Task<WorkerStatus> Status(AllocatorHarness h, string worker) =>
        h.Workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), Wait);
}
