using Akka.Actor;
using Akka.Event;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// The root of Celery monitoring, run as a cluster singleton: exactly one node of the cluster subscribes to the
/// brokers' events, polls their queues and asks their workers, so a cluster-wide sum never counts an event twice.
/// When that node leaves, the singleton (and with it the monitoring) starts on the oldest remaining node. One
/// child per broker (<see cref="CeleryBrokerMonitorActor"/>): <c>broker</c> for the one of <c>CELERY_BROKER_URL</c>,
/// <c>broker-{name}</c> for each of <c>CELERY_BROKERS</c>.
/// </summary>
public sealed class CeleryMonitorActor : ReceiveActor
{
    private readonly IReadOnlyList<CeleryBrokerConnection> _brokers;
    private readonly CeleryMonitorMetrics _metrics;
    private readonly IActorRef _recorder;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>Creates the actor.</summary>
    /// <param name="brokers">The brokers to watch, each with its open connection (owned by the host).</param>
    /// <param name="metrics">The Celery monitor's metrics.</param>
    /// <param name="recorder">The node's metrics recorder.</param>
    public CeleryMonitorActor(IReadOnlyList<CeleryBrokerConnection> brokers, CeleryMonitorMetrics metrics, IActorRef recorder)
    {
        _brokers = brokers;
        _metrics = metrics;
        _recorder = recorder;
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IReadOnlyList<CeleryBrokerConnection> brokers, CeleryMonitorMetrics metrics, IActorRef recorder) =>
        Akka.Actor.Props.Create(() => new CeleryMonitorActor(brokers, metrics, recorder));

    /// <inheritdoc />
    protected override void PreStart()
    {
        foreach (var broker in _brokers)
        {
            var name = broker.Settings.BrokerName is { } named ? $"broker-{named}" : "broker";
            Context.ActorOf(CeleryBrokerMonitorActor.Props(broker, _metrics, _recorder), name);
        }
    }

    /// <inheritdoc />
    protected override void PostStop() => _log.Info("Celery monitoring stopped on this node");
}
