using Akka.Actor;
using Akka.Event;
using CeleryActors.Actors.Supervision;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// Watches one Celery broker: its children are the queue watcher, the events actor (under back-off, for a
/// subscription that cannot be made) and the remote-control inspector. A broker that fails touches only its own
/// monitor; the others keep going.
/// </summary>
public sealed class CeleryBrokerMonitorActor : ReceiveActor
{
    private readonly CeleryBrokerConnection _broker;
    private readonly CeleryBrokerMetrics _metrics;
    private readonly IActorRef _recorder;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>Creates the actor.</summary>
    /// <param name="broker">The broker's connection and settings.</param>
    /// <param name="metrics">The Celery monitor's metrics.</param>
    /// <param name="recorder">The node's metrics recorder.</param>
    public CeleryBrokerMonitorActor(CeleryBrokerConnection broker, CeleryMonitorMetrics metrics, IActorRef recorder)
    {
        _broker = broker;
        _metrics = new CeleryBrokerMetrics(metrics, broker.Settings.BrokerName);
        _recorder = recorder;
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(CeleryBrokerConnection broker, CeleryMonitorMetrics metrics, IActorRef recorder) =>
        Akka.Actor.Props.Create(() => new CeleryBrokerMonitorActor(broker, metrics, recorder));

    /// <inheritdoc />
    protected override void PreStart()
    {
        var (connection, settings) = _broker;
        _log.Info("Monitoring the Celery broker {0} from this node", settings.Describe());
        var queues = Context.ActorOf(CeleryQueueWatcherActor.Props(connection, settings, _metrics), "queues");
        var events = Context.ActorOf(BackoffRestarts.OnFailure(
            CeleryEventsActor.Props(settings, _metrics, queues, _recorder), "events"), "events");
        Context.ActorOf(CeleryInspectorActor.Props(connection, settings, _metrics, events, queues), "inspector");
    }
}
