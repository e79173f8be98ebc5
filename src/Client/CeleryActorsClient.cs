using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using CeleryActors.Protocol.Serialization;

namespace CeleryActors.Client;

/// <summary>
/// Typed, asynchronous calls to a CeleryActors cluster (SPEC §9) over Akka.Cluster.Tools' cluster client: every
/// call goes to the client gateway of a node through that node's receptionist, and waits for its reply.
/// Commands are confirmed too: register/heartbeat/unregister/task status return the worker's status after the
/// worker entity handled the command; a publish returns once the queue entity took the task; a metrics command once
/// the node's recorder has it. A call without reply within its timeout throws
/// <see cref="CeleryActorsTimeoutException"/>. When the contact node goes away the cluster client moves to another
/// known node by itself, buffering calls meanwhile, so calls issued during the move succeed if the move finishes
/// within their timeout. Thread-safe; one instance per application is enough.
/// </summary>
public sealed class CeleryActorsClient : IAsyncDisposable
{
    /// <summary>The path of the nodes' client gateway, as registered with their receptionists.</summary>
    public const string GatewayPath = "/user/client-gateway";

    private readonly Task<IActorRef> _connection;
    private readonly ActorSystem? _ownedSystem;

    /// <summary>Wraps a connection started with <see cref="StartConnection"/> (a <see cref="ClientConnectionActor"/>).</summary>
    public CeleryActorsClient(IActorRef connection, CeleryActorsClientOptions options)
        : this(Task.FromResult(connection), options, null)
    {
    }

    internal CeleryActorsClient(Task<IActorRef> connection, CeleryActorsClientOptions options, ActorSystem? ownedSystem)
    {
        options.Validate();
        _connection = connection;
        Options = options;
        _ownedSystem = ownedSystem;
    }

    /// <summary>The options the client runs with.</summary>
    public CeleryActorsClientOptions Options { get; }

    /// <summary>
    /// The HOCON a client actor system needs: remoting on <see cref="CeleryActorsClientOptions.Hostname"/> (any free
    /// port), the serializer bindings of the nodes, and cluster client timings that notice a lost contact within
    /// about 5 s (heartbeat every second, 4 s acceptable pause) and keep looking for contacts forever.
    /// </summary>
    public static Config ClientConfig(CeleryActorsClientOptions options, string logLevel = "WARNING") =>
        ConfigurationFactory.ParseString($$"""
            akka.loglevel = {{logLevel}}
            akka.stdout-loglevel = {{logLevel}}
            akka.log-dead-letters = off
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.hostname = "{{options.Hostname}}"
            akka.remote.dot-netty.tcp.port = 0
            """)
            .WithFallback(TimingConfig)
            .WithFallback(ProtocolSerializers.Bindings)
            .WithFallback(ToolsConfig);

    /// <summary>
    /// Akka.Cluster.Tools' defaults a client system needs before it starts: the cluster client's settings and
    /// serializer, and the distributed pub/sub serializer, which carries the envelope of every call to the
    /// receptionist (without it the envelope would fall back to the Newtonsoft serializer).
    /// </summary>
    public static Config ToolsConfig { get; } =
        ClusterClientReceptionist.DefaultConfig().WithFallback(DistributedPubSub.DefaultConfig());

    /// <summary>Cluster client timings (see <see cref="ClientConfig"/>).</summary>
    public static Config TimingConfig { get; } = ConfigurationFactory.ParseString("""
        akka.cluster.client {
          establishing-get-contacts-interval = 1s
          refresh-contacts-interval = 10s
          heartbeat-interval = 1s
          acceptable-heartbeat-pause = 4s
          reconnect-timeout = off
          buffer-size = 1000
        }
        """);

    /// <summary>Starts a client with an actor system of its own (terminated on dispose).</summary>
    public static CeleryActorsClient Start(CeleryActorsClientOptions options, string logLevel = "WARNING")
    {
        options.Validate();
        var system = ActorSystem.Create("celery-actors-client", ClientConfig(options, logLevel));
        return new CeleryActorsClient(Task.FromResult(StartConnection(system, options)), options, system);
    }

    /// <summary>
    /// Creates a client in an existing actor system, which must use the <c>remote</c> (or <c>cluster</c>) provider
    /// and bind the serializers of <see cref="ProtocolSerializers.Bindings"/> (<see cref="ClientConfig"/> has both).
    /// </summary>
    public static CeleryActorsClient Create(ActorSystem system, CeleryActorsClientOptions options)
    {
        options.Validate();
        return new CeleryActorsClient(StartConnection(system, options), options);
    }

    /// <summary>Starts the client's connection (a <see cref="ClientConnectionActor"/> over a cluster client) for
    /// <paramref name="options"/> in <paramref name="system"/>.</summary>
    public static IActorRef StartConnection(ActorSystem system, CeleryActorsClientOptions options, string? name = null)
    {
        system.Settings.InjectTopLevelFallback(TimingConfig.WithFallback(ClusterClientReceptionist.DefaultConfig()));
        var settings = ClusterClientSettings.Create(system)
            .WithInitialContacts(options.Contacts.Select(CeleryActorsClientOptions.ReceptionistPath).ToImmutableHashSet());
        return system.ActorOf(ClientConnectionActor.Props(settings, options.Timeout),
            name ?? "celery-actors-client-" + Guid.NewGuid().ToString("N")[..8]);
    }

    /// <summary>Registers (or re-registers) a worker; returns its status once the worker entity handled it.</summary>
    public Task<WorkerStatus> RegisterWorkerAsync(string worker, IReadOnlyList<string> queues,
        IReadOnlyDictionary<string, CapabilityValue>? capabilities = null, int poolSize = 1, CancellationToken token = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(worker);
        if (queues.Count == 0 || queues.Any(string.IsNullOrEmpty))
            throw new ArgumentException("a worker consumes at least one queue, each named", nameof(queues));
        ArgumentOutOfRangeException.ThrowIfLessThan(poolSize, 1);
        return Call<WorkerStatus>("RegisterWorker",
            new RegisterWorker(worker, queues, capabilities ?? new Dictionary<string, CapabilityValue>(), poolSize), token);
    }

    /// <summary>Tells the cluster the worker is alive; returns its status.</summary>
    public Task<WorkerStatus> HeartbeatAsync(string worker, CancellationToken token = default) =>
        Call<WorkerStatus>("Heartbeat", new WorkerHeartbeat(worker), token);

    /// <summary>Unregisters a worker (its unfinished tasks return to their queues); returns its status.</summary>
    public Task<WorkerStatus> UnregisterAsync(string worker, CancellationToken token = default) =>
        Call<WorkerStatus>("Unregister", new UnregisterWorker(worker), token);

    /// <summary>
    /// Publishes a task; returns once the queue entity took it. Without <paramref name="taskId"/> the client
    /// generates one; a retry after a timeout should pass the same id, so the queue ignores it as a duplicate
    /// instead of accepting the task twice.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="taskName">The task's name.</param>
    /// <param name="taskDataJson">The task data as JSON text; null for none.</param>
    /// <param name="priority">0-9, 9 most urgent; default 5.</param>
    /// <param name="taskId">The task id; generated when null.</param>
    /// <param name="requires">Capabilities a worker needs.</param>
    /// <param name="token">Cancels the wait.</param>
    /// <returns>The queue and the task id.</returns>
    public Task<TaskPublished> PublishTaskAsync(string queue, string taskName, string? taskDataJson = null,
        int priority = 5, string? taskId = null, IReadOnlyDictionary<string, CapabilityValue>? requires = null,
        CancellationToken token = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentException.ThrowIfNullOrEmpty(taskName);
        ArgumentOutOfRangeException.ThrowIfLessThan(priority, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, 9);
        if (taskDataJson is not null) System.Text.Json.JsonDocument.Parse(taskDataJson).Dispose(); // throws JsonException
        var id = string.IsNullOrEmpty(taskId) ? Guid.NewGuid().ToString() : taskId;
        return Call<TaskPublished>("PublishTask", new PublishTask(queue, id, taskName, taskDataJson ?? "null", priority,
            requires is { Count: > 0 } ? requires : null, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0), token);
    }

    /// <summary>Reports a worker's progress on a task (the acknowledgement is <see cref="TaskProgress.Received"/>);
    /// returns the worker's status once its entity routed the report to the task's queue.</summary>
    public Task<WorkerStatus> ReportTaskStatusAsync(string worker, string taskId, TaskProgress progress,
        double? runtimeSeconds = null, string? exception = null, CancellationToken token = default) =>
        Call<WorkerStatus>("ReportTaskStatus", new WorkerTaskStatus(worker, taskId, progress, runtimeSeconds, exception), token);

    /// <summary>Tracks one task execution in the node's metrics.</summary>
    public Task TrackTaskExecutionAsync(string taskName, string queue, double durationSeconds, TaskOutcome outcome,
        string? exception = null, CancellationToken token = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(durationSeconds);
        return Call<MetricsCommandAccepted>("TrackTaskExecution",
            new TrackTaskExecution(taskName, queue, durationSeconds, outcome, outcome == TaskOutcome.Failure ? exception : null), token);
    }

    /// <summary>Sets a queue's length in the node's metrics.</summary>
    public Task UpdateQueueLengthAsync(string queue, long length, CancellationToken token = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return Call<MetricsCommandAccepted>("UpdateQueueLength", new UpdateQueueLength(queue, length), token);
    }

    /// <summary>Tracks one pub/sub message in the node's metrics.</summary>
    public Task TrackPubSubMessageAsync(string channel, string messageType, double latencySeconds,
        CancellationToken token = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(latencySeconds);
        return Call<MetricsCommandAccepted>("TrackPubSubMessage", new TrackPubSubMessage(channel, messageType, latencySeconds), token);
    }

    /// <summary>Every registered worker, ordered by name (<c>GET /api/workers</c>).</summary>
    public async Task<IReadOnlyList<WorkerStatus>> GetWorkersAsync(CancellationToken token = default) =>
        (await Call<Workers>("GetWorkers", new GetWorkers(), token)).All;

    /// <summary>Every known queue's statistics, ordered by name (<c>GET /api/queues</c>).</summary>
    public async Task<IReadOnlyList<QueueStats>> GetQueuesAsync(CancellationToken token = default) =>
        (await Call<Queues>("GetQueues", new GetQueues(), token)).All;

    /// <summary>One queue's statistics (<c>GET /api/queues/{queue}</c>); null when no such queue exists.</summary>
    public async Task<QueueStats?> GetQueueAsync(string queue, CancellationToken token = default) =>
        await Call<object>("GetQueue", new GetQueue(queue), token) switch
        {
            QueueStats stats => stats,
            QueueNotFound => null,
            var other => throw Unexpected("GetQueue", other),
        };

    /// <summary>A queue's newest allocation events, newest first (<c>GET /api/queues/{queue}/history?limit=N</c>);
    /// null when no such queue exists.</summary>
    public async Task<QueueHistory?> GetQueueHistoryAsync(string queue, int limit = 50, CancellationToken token = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return await Call<object>("GetQueueHistory", new GetHistory(queue, limit), token) switch
        {
            QueueHistory history => history,
            QueueNotFound => null,
            var other => throw Unexpected("GetQueueHistory", other),
        };
    }

    /// <summary>Stops the cluster client, and the actor system if the client started its own.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownedSystem is not null) await _ownedSystem.Terminate();
        else if (_connection.IsCompletedSuccessfully) _connection.Result.Tell(PoisonPill.Instance);
    }

    // Internal for the tests that send records the public calls would refuse, to see the node refuse them too.
    internal async Task<T> Call<T>(string call, object message, CancellationToken token)
    {
        var connection = await _connection.WaitAsync(Options.Timeout, token);
        var pending = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Tell(new ClientConnectionActor.Call(message, pending));
        object reply;
        try
        {
            reply = await pending.Task.WaitAsync(Options.Timeout, token);
        }
        catch (TimeoutException)
        {
            throw new CeleryActorsTimeoutException(call, Options.Timeout, Options.Contacts);
        }
        return reply switch
        {
            T typed => typed,
            GatewayFailure failure => throw new CeleryActorsGatewayException(call, failure.Reason),
            _ => throw Unexpected(call, reply),
        };
    }

    private static CeleryActorsException Unexpected(string call, object reply) =>
        new($"{call}: unexpected reply {reply.GetType().Name}");
}
