using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using StackExchange.Redis;

namespace CeleryActors.Actors.Client;

/// <summary>
/// The node's door for actor clients (SPEC §9), registered with the cluster client receptionist under
/// <see cref="ServicePath"/>. Metrics commands go to the metrics recorder; allocator commands to the queue and
/// worker regions: a task is confirmed by its queue once it is in the journal, a worker command by a query the
/// same entity answers after it (messages between one sender and one entity keep their order, so the reply
/// proves the command was handled); list queries are answered as the
/// HTTP queries of SPEC §4.2 answer them. Every reply goes to the asking client; a query the node cannot answer
/// in time is answered with <see cref="GatewayFailure"/> so the client fails fast with the node's reason.
/// </summary>
public sealed class ClientGatewayActor : ReceiveActor
{
    /// <summary>The gateway's name under <c>/user</c>.</summary>
    public const string Name = "client-gateway";

    /// <summary>The path clients send to through the receptionist.</summary>
    public const string ServicePath = "/user/" + Name;

    /// <summary>How long an entity or Redis may take to answer the gateway.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    private readonly IActorRef _metrics;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly IDatabase _redis;
    private readonly AllocatorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>Creates the gateway.</summary>
    /// <param name="metrics">The metrics recorder.</param>
    /// <param name="queues">The queue region.</param>
    /// <param name="workers">The worker region.</param>
    /// <param name="redis">The node's Redis connection (the sets of known queues and workers).</param>
    /// <param name="settings">The allocator's settings (the names of those sets).</param>
    public ClientGatewayActor(IActorRef metrics, IActorRef queues, IActorRef workers, IConnectionMultiplexer redis,
        AllocatorSettings settings)
    {
        _metrics = metrics;
        _queues = queues;
        _workers = workers;
        _redis = redis.GetDatabase();
        _settings = settings;

        // The actor client wraps every call with its correlation id; bare calls are answered the same way.
        Receive<ClientRequest>(r =>
        {
            var client = Sender;
            Dispatch(r.Request, reply => client.Tell(new ClientResponse(r.Id, reply)));
        });
        ReceiveAny(m =>
        {
            var client = Sender;
            Dispatch(m, reply => client.Tell(reply));
        });
    }

    /// <summary>Props for the gateway.</summary>
    public static Props Props(IActorRef metrics, IActorRef queues, IActorRef workers, IConnectionMultiplexer redis,
        AllocatorSettings settings) =>
        Akka.Actor.Props.Create(() => new ClientGatewayActor(metrics, queues, workers, redis, settings));

    private void Dispatch(object request, Action<object> reply)
    {
        if (ClientCommandRules.Check(request, _settings.MaxPayloadBytes) is { } invalid)
        {
            _log.Warning("Client request {0} rejected ({1}): {2}", request.GetType().Name, invalid.Reason, invalid.Detail);
            reply(new GatewayFailure(request.GetType().Name, invalid.Detail));
            return;
        }
        switch (request)
        {
            case TrackTaskExecution m: Record(m, "task_execution", reply); break;
            case UpdateQueueLength m: Record(m, "queue_length", reply); break;
            case TrackPubSubMessage m: Record(m, "pubsub_message", reply); break;
            case PublishTask m: Publish(m, reply); break;
            case RegisterWorker m: ToWorker(m, m.Worker, reply); break;
            case WorkerHeartbeat m: ToWorker(m, m.Worker, reply); break;
            case UnregisterWorker m: ToWorker(m, m.Worker, reply); break;
            case WorkerTaskStatus m: ToWorker(m, m.Worker, reply); break;
            case GetWorkers m: Answer(m, AllWorkers(), reply); break;
            case GetQueues m: Answer(m, AllQueues(), reply); break;
            case GetQueue m: Answer(m, OneQueue(m.Queue), reply); break;
            case GetHistory m: Answer(m, History(m.Queue, m.Limit), reply); break;
            default:
                _log.Warning("Client request {0} is not one the gateway takes", request.GetType().Name);
                reply(new GatewayFailure(request.GetType().Name, "not a request the gateway takes"));
                break;
        }
    }

    private void Record(IMetricsCommand command, string kind, Action<object> reply)
    {
        // The recorder is local and never refuses a command: handing it over is the whole delivery.
        _metrics.Tell(command);
        reply(new MetricsCommandAccepted(kind));
    }

    private void Publish(PublishTask p, Action<object> reply)
    {
        // The queue answers once the task is in its journal, so a confirmed task survives the queue's node.
        var submit = new SubmitTask(p.Queue, p.TaskId, p.TaskName, p.TaskData, p.Priority, p.Requires, p.PublishedAt,
            AllocatorSettings.Now());
        Answer(p, Confirm(_queues.Ask<object>(submit, AskTimeout), answer => answer switch
        {
            TaskSubmitted s => new TaskPublished(s.Queue, s.TaskId),
            TaskRefused r => new GatewayFailure(nameof(PublishTask), r.Reason),
            _ => new GatewayFailure(nameof(PublishTask), "the queue answered " + answer.GetType().Name),
        }), reply);
    }

    private void ToWorker(IWorkerCommand command, string worker, Action<object> reply)
    {
        _workers.Tell(command);
        Answer(command, Confirm(_workers.Ask<WorkerStatus>(new GetWorkerStatus(worker), AskTimeout), s => (object)s), reply);
    }

    private static async Task<object> Confirm<T>(Task<T> query, Func<T, object> reply) => reply(await query);

    private async Task<object> AllWorkers()
    {
        var names = (await _redis.SetMembersAsync(_settings.WorkersKey)).Select(n => n.ToString()).Order(StringComparer.Ordinal);
        var statuses = await Task.WhenAll(names.Select(n => _workers.Ask<WorkerStatus>(new GetWorkerStatus(n), AskTimeout)));
        return new Workers(statuses.Where(s => s.Registered).ToList());
    }

    private async Task<object> AllQueues()
    {
        var names = (await _redis.SetMembersAsync(_settings.QueuesKey)).Select(n => n.ToString()).Order(StringComparer.Ordinal);
        return new Queues(await Task.WhenAll(names.Select(n => _queues.Ask<QueueStats>(new GetQueueStats(n), AskTimeout))));
    }

    // A queue nobody has published to or registered for does not exist: asking for it must not create it.
    private async Task<object> OneQueue(string queue) =>
        await _redis.SetContainsAsync(_settings.QueuesKey, queue)
            ? await _queues.Ask<QueueStats>(new GetQueueStats(queue), AskTimeout)
            : new QueueNotFound(queue);

    private async Task<object> History(string queue, int limit) =>
        await _redis.SetContainsAsync(_settings.QueuesKey, queue)
            ? await _queues.Ask<QueueHistory>(new GetQueueHistory(queue, Math.Clamp(limit, 0, 1_000)), AskTimeout)
            : new QueueNotFound(queue);

    private void Answer(object request, Task<object> answer, Action<object> reply)
    {
        var log = _log;
        answer.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully)
            {
                reply(t.Result);
                return;
            }
            var e = t.Exception?.GetBaseException() ?? new TaskCanceledException();
            log.Warning("Client request {0} failed: {1}", request.GetType().Name, e.Message);
            reply(new GatewayFailure(request.GetType().Name, e.Message));
        }, TaskContinuationOptions.ExecuteSynchronously);
    }
}
