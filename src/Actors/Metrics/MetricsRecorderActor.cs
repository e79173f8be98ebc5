using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// The node's metric aggregation: turns the seed's library API (<see cref="IMetricsCommand"/>) and the
/// subscription's reports into Prometheus counters and gauges, and feeds histogram observations into the
/// <see cref="ObservationPipeline"/>, whose stream it owns (it dies and restarts with the actor).
/// </summary>
public sealed class MetricsRecorderActor : ReceiveActor
{
    private readonly CeleryMetrics _metrics;
    private readonly ObservationPipelineSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ObservationPipeline _pipeline = null!;

    /// <summary>Creates the actor.</summary>
    public MetricsRecorderActor(CeleryMetrics metrics, ObservationPipelineSettings settings)
    {
        _metrics = metrics;
        _settings = settings;

        Receive<TrackTaskExecution>(Handle);
        Receive<UpdateQueueLength>(m => _metrics.SetQueueLength(m.Queue, m.Length));
        Receive<TrackPubSubMessage>(Handle);
        Receive<PubSubMessageHandled>(Handle);
        Receive<MessageRejected>(m => _metrics.CountRejection(m.Kind, m.Reason));
        Receive<ChannelsResubscribed>(_ => _metrics.RedisResubscriptions.Inc());
        // Allocator observations: histogram values through the same pipeline.
        Receive<ObserveAllocation>(m => _pipeline.Offer(_metrics.AllocationDurationSeries(m.Queue), m.Seconds));
        Receive<ObserveTaskDuration>(m => _pipeline.Offer(_metrics.TaskDurationSeries(m.TaskName, m.Queue), m.Seconds));
        Receive<ObservePubSubLatency>(m => _pipeline.Offer(_metrics.PubSubLatencySeries(m.Channel), m.Seconds));
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(CeleryMetrics metrics, ObservationPipelineSettings settings) =>
        Akka.Actor.Props.Create(() => new MetricsRecorderActor(metrics, settings));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _pipeline = ObservationPipeline.Start(_settings, _metrics.ObservationsDropped, Context.Materializer());
        _log.Debug("Observation pipeline started with a buffer of {0}", _settings.BufferSize);
    }

    /// <inheritdoc />
    protected override void PostStop() => _pipeline.Complete();

    private void Handle(TrackTaskExecution execution)
    {
        _metrics.CountTaskExecution(execution);
        _pipeline.Offer(_metrics.TaskDurationSeries(execution.TaskName, execution.Queue), execution.DurationSeconds);
    }

    private void Handle(TrackPubSubMessage message)
    {
        _metrics.CountPubSubMessage(message.Channel, message.MessageType);
        _pipeline.Offer(_metrics.PubSubLatencySeries(message.Channel), message.LatencySeconds);
    }

    private void Handle(PubSubMessageHandled handled)
    {
        _metrics.CountPubSubMessage(handled.Channel, handled.MessageType);
        if (handled.LatencySeconds is { } latency)
            _pipeline.Offer(_metrics.PubSubLatencySeries(handled.Channel), latency);
    }
}
