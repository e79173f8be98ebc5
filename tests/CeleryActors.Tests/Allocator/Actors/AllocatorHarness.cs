using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Persistence.Redis;
using CeleryActors.Actors.Supervision;
using StackExchange.Redis;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>Routes allocator messages to child entities by id: cluster sharding's routing, on one node, for
/// tests that look at the entities and not at the cluster.</summary>
internal sealed class LocalRegion : ReceiveActor
{
    public LocalRegion(Func<string, Props> props)
    {
        var extractor = new AllocatorMessageExtractor();
        // As a shard does: an entity that asks to passivate is sent its stop message.
        Receive<Akka.Cluster.Sharding.Passivate>(p => Sender.Tell(p.StopMessage));
        ReceiveAny(message =>
        {
            var id = extractor.EntityId(message)!;
            var name = Uri.EscapeDataString(id);
            var child = Context.Child(name);
            if (child.IsNobody()) child = Context.ActorOf(props(id), name);
            child.Forward(message);
        });
    }
}

/// <summary>One assignment a worker received on its channel.</summary>
internal sealed record Assignment(string Worker, string TaskId, string TaskName, int Priority, int Attempt, string Json);

/// <summary>
/// The allocator's entities in one actor system on a real Redis (journal, snapshots, assignment channels), with
/// a listener that collects every assignment published on the workers' channels.
/// </summary>
internal sealed class AllocatorHarness : IDisposable
{
    private readonly ChannelMessageQueue _listener;

    public AllocatorHarness(ActorSystem system, string redisConnection, ConnectionMultiplexer publisherSide,
        AllocatorSettings settings, IActorRef recorder, bool supervised = false)
    {
        Settings = settings;
        Node = ConnectionMultiplexer.Connect(redisConnection);
        Metrics = new CeleryMetrics(Prometheus.Metrics.NewCustomRegistry(), 1_000);
        Allocator = new AllocatorMetrics(Metrics);
        var registry = ActorRegistry.For(system);
        registry.Register<MetricsRecorderActor>(recorder);
        var redis = new AllocatorRedis(Node, settings);
        Queues = system.ActorOf(Props.Create(() => new LocalRegion(q => supervised
            ? BackoffRestarts.OnStop(QueueEntityActor.Props(q, settings, redis, Allocator, registry), "queue")
            : QueueEntityActor.Props(q, settings, redis, Allocator, registry))));
        Workers = system.ActorOf(Props.Create(() => new LocalRegion(w => WorkerEntityActor.Props(w, settings, redis, Allocator, registry))));
        registry.Register<QueueRegion>(Queues);
        registry.Register<WorkerRegion>(Workers);
        var prefixLength = settings.Channels.Worker("").Length;
        _listener = publisherSide.GetSubscriber().Subscribe(RedisChannel.Pattern(settings.Channels.Worker("*")));
        _listener.OnMessage(m =>
        {
            using var doc = JsonDocument.Parse((string)m.Message!);
            var root = doc.RootElement;
            if (root.TryGetProperty(FenceField, out var fence))
            {
                if (_fences.TryRemove(fence.GetString()!, out var passed)) passed.TrySetResult();
                return;
            }
            var assignment = new Assignment(m.Channel.ToString()[prefixLength..], root.GetProperty("task_id").GetString()!,
                root.GetProperty("task_name").GetString()!, root.GetProperty("priority").GetInt32(),
                root.GetProperty("attempt").GetInt32(), (string)m.Message!);
            Assignments.Enqueue(assignment);
            Assigned?.Invoke(assignment);
        });
    }

    private const string FenceField = "test_fence";
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _fences = new();

    /// <summary>Called on the listener's thread for each assignment, in the order Redis delivered them.</summary>
    public event Action<Assignment>? Assigned;

    /// <summary>
    /// Completes once every assignment the entities published on <paramref name="worker"/>'s channel before this
    /// call has reached the listener: a marker published through the entities' own connection comes after them.
    /// </summary>
    public async Task Fence(string worker, TimeSpan timeout)
    {
        var id = Guid.NewGuid().ToString("N");
        var passed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _fences[id] = passed;
        await Node.GetSubscriber().PublishAsync(RedisChannel.Literal(Settings.Channels.Worker(worker)),
            JsonSerializer.Serialize(new Dictionary<string, string> { [FenceField] = id }));
        await passed.Task.WaitAsync(timeout);
    }

    public AllocatorSettings Settings { get; }
    public ConnectionMultiplexer Node { get; }
    public CeleryMetrics Metrics { get; }

    /// <summary>The allocator's metrics, on <see cref="Metrics"/>.</summary>
    public AllocatorMetrics Allocator { get; }
    public IActorRef Queues { get; }
    public IActorRef Workers { get; }
    public ConcurrentQueue<Assignment> Assignments { get; } = new();

    public List<Assignment> For(string worker) => Assignments.Where(a => a.Worker == worker).ToList();

    public static AllocatorSettings NewSettings(TimeSpan ack, TimeSpan worker, int snapshotEvery = 1_000) =>
        new(new ChannelNames("t" + Guid.NewGuid().ToString("N")[..8] + "."), 1024 * 1024, ack, worker, snapshotEvery);

    public static Config SystemConfig(string redisConnection) => ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.redis"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.redis"
        akka.persistence.journal.redis.configuration-string = "{{redisConnection}}"
        akka.persistence.snapshot-store.redis.configuration-string = "{{redisConnection}}"
        akka.actor.serializers.celery-allocator = "CeleryActors.Protocol.Serialization.AllocatorSerializer, CeleryActors.Protocol"
        akka.actor.serialization-bindings { "CeleryActors.Messages.Allocator.IAllocatorProtocol, CeleryActors.Messages" = celery-allocator }
        """).WithFallback(RedisPersistence.DefaultConfig());

    public void Dispose()
    {
        _listener.Unsubscribe();
        Node.Dispose();
    }
}
