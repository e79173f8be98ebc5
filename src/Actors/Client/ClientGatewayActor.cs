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
/// proves the command was handled); queries are answered by <see cref="AllocatorQueries"/>, as the HTTP queries of
/// SPEC §4.2 are. Every reply goes to the asking client; a query the node cannot answer
/// in time is answered with <see cref="GatewayFailure"/> so the client fails fast with the node's reason.
/// </summary>
public sealed class ClientGatewayActor : ReceiveActor
{
    /// <summary>The gateway's name under <c>/user</c>.</summary>
    public const string Name = "client-gateway";

    /// <summary>The path clients send to through the receptionist.</summary>
    public const string ServicePath = "/user/" + Name;

    private readonly IActorRef _metrics;
    private readonly IActorRef _queues;
    private readonly IActorRef _workers;
    private readonly AllocatorSettings _settings;
    private readonly AllocatorQueries _queries;
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
        _settings = settings;
        _queries = new AllocatorQueries(queues, workers, redis, settings);

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
            case GetWorkers m: Answer(m, Confirm(_queries.WorkersAsync(), w => (object)w), reply); break;
            case GetQueues m: Answer(m, Confirm(_queries.QueuesAsync(), q => (object)q), reply); break;
            case GetQueue m: Answer(m, Confirm(_queries.QueueAsync(m.Queue), s => s ?? (object)new QueueNotFound(m.Queue)), reply); break;
            case GetHistory m:
                Answer(m, Confirm(_queries.HistoryAsync(m.Queue, m.Limit), h => h ?? (object)new QueueNotFound(m.Queue)), reply);
                break;
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
        Answer(p, Confirm(_queues.Ask<object>(submit, AllocatorQueries.AskTimeout), answer => answer switch
        {
            TaskSubmitted s => new TaskPublished(s.Queue, s.TaskId),
            TaskRefused r => new GatewayFailure(nameof(PublishTask), r.Reason),
            _ => new GatewayFailure(nameof(PublishTask), "the queue answered " + answer.GetType().Name),
        }), reply);
    }

    private void ToWorker(IWorkerCommand command, string worker, Action<object> reply)
    {
        _workers.Tell(command);
        Answer(command, Confirm(_queries.WorkerAsync(worker), s => (object)s), reply);
    }

    private static async Task<object> Confirm<T>(Task<T> query, Func<T, object> reply) => reply(await query);

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
