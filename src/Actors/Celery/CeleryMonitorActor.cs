using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Hosting;
using CeleryActors.Actors.Metrics;
using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// The root of Celery monitoring, run as a cluster singleton: exactly one node of the cluster subscribes to the
/// broker's events, polls its queues and asks its workers, so a cluster-wide sum never counts an event twice.
/// When that node leaves, the singleton (and with it the monitoring) starts on the oldest remaining node.
/// Children: the queue watcher, the events actor (under back-off, for a subscription that cannot be made) and
/// the remote-control inspector.
/// </summary>
public sealed class CeleryMonitorActor : ReceiveActor
{
    private readonly IConnectionMultiplexer _broker;
    private readonly CeleryMonitorSettings _settings;
    private readonly CeleryMetrics _metrics;
    private readonly IActorRef _recorder;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>Creates the actor.</summary>
    /// <param name="broker">The connection to the broker (owned by the host).</param>
    /// <param name="settings">Monitoring settings.</param>
    /// <param name="metrics">The node's metrics.</param>
    /// <param name="recorder">The node's metrics recorder.</param>
    public CeleryMonitorActor(IConnectionMultiplexer broker, CeleryMonitorSettings settings, CeleryMetrics metrics,
        IActorRef recorder)
    {
        _broker = broker;
        _settings = settings;
        _metrics = metrics;
        _recorder = recorder;
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer broker, CeleryMonitorSettings settings, CeleryMetrics metrics,
        IActorRef recorder) =>
        Akka.Actor.Props.Create(() => new CeleryMonitorActor(broker, settings, metrics, recorder));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _log.Info("Monitoring the Celery broker at {0} from this node", _settings.Broker);
        var queues = Context.ActorOf(CeleryQueueWatcherActor.Props(_broker, _settings, _metrics), "queues");
        var events = Context.ActorOf(CeleryActorsHostingExtensions.Supervised(
            CeleryEventsActor.Props(_broker, _settings, _metrics, queues, _recorder), "events"), "events");
        Context.ActorOf(CeleryInspectorActor.Props(_broker, _settings, _metrics, events, queues), "inspector");
    }

    /// <inheritdoc />
    protected override void PostStop() => _log.Info("Celery monitoring stopped on this node");
}
