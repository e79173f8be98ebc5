using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using Prometheus;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// The node's metric aggregation: turns the seed's library API (<see cref="IMetricsCommand"/>) and the
/// subscription's reports into Prometheus counters and gauges, and feeds histogram observations into the
/// <see cref="ObservationPipeline"/>, whose stream it owns (it dies and restarts with the actor). At an
/// interval it frees the label values not seen for the label TTL, with their series.
/// </summary>
public sealed class MetricsRecorderActor : ReceiveActor, IWithTimers
{
    /// <summary>The default of <c>METRICS_LABEL_TTL</c>.</summary>
    public static readonly TimeSpan DefaultLabelTtl = TimeSpan.FromHours(1);

    private const string ExpiryTimer = "expire-labels";
    private readonly CeleryMetrics _metrics;
    private readonly ObservationPipelineSettings _settings;
    private readonly TimeSpan _labelTtl;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ObservationPipeline _pipeline = null!;

    /// <summary>Creates the actor.</summary>
    /// <param name="metrics">The node's metrics.</param>
    /// <param name="settings">The observation pipeline's settings.</param>
    /// <param name="labelTtl">How long a label value may go unseen before it and its series are removed;
    /// <see cref="DefaultLabelTtl"/> when null.</param>
    /// <param name="allocationSeries">The series of a queue's allocation durations (the allocator's metrics own that
    /// family); without it <see cref="ObserveAllocation"/> is not taken.</param>
    /// <param name="queueWaitSeries">The series of a Celery task's queue wait, by task name, queue and broker (the
    /// Celery monitor's metrics own that family); without it <see cref="ObserveQueueWait"/> is not taken.</param>
    public MetricsRecorderActor(CeleryMetrics metrics, ObservationPipelineSettings settings, TimeSpan? labelTtl = null,
        Func<string, Histogram.Child>? allocationSeries = null,
        Func<string, string, string?, Histogram.Child>? queueWaitSeries = null)
    {
        _metrics = metrics;
        _settings = settings;
        _labelTtl = labelTtl ?? DefaultLabelTtl;

        Receive<TrackTaskExecution>(Handle);
        Receive<UpdateQueueLength>(m => _metrics.SetQueueLength(m.Queue, m.Length));
        Receive<TrackPubSubMessage>(Handle);
        Receive<PubSubMessageHandled>(Handle);
        Receive<MessageRejected>(m => _metrics.CountRejection(m.Kind, m.Reason));
        Receive<ChannelsResubscribed>(_ => _metrics.RedisResubscriptions.Inc());
        Receive<PubSubMessagesDropped>(m => _metrics.CountDropped(m.Subscription, m.Count, m.Broker));
        // Allocator observations: histogram values through the same pipeline.
        if (allocationSeries is not null)
            Receive<ObserveAllocation>(m => _pipeline.Offer(allocationSeries(m.Queue), m.Seconds));
        Receive<ObserveTaskDuration>(m => _pipeline.Offer(_metrics.TaskDurationSeries(m.TaskName, m.Queue, m.Broker), m.Seconds));
        Receive<ObservePubSubLatency>(m => _pipeline.Offer(_metrics.PubSubLatencySeries(m.Channel), m.Seconds));
        if (queueWaitSeries is not null)
            Receive<ObserveQueueWait>(m => _pipeline.Offer(queueWaitSeries(m.TaskName, m.Queue, m.Broker), m.Seconds));
        Receive<ExpireIdleLabels>(_ => Expire());
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the actor.</summary>
    public static Props Props(CeleryMetrics metrics, ObservationPipelineSettings settings, TimeSpan? labelTtl = null,
        Func<string, Histogram.Child>? allocationSeries = null,
        Func<string, string, string?, Histogram.Child>? queueWaitSeries = null) =>
        Akka.Actor.Props.Create(() => new MetricsRecorderActor(metrics, settings, labelTtl, allocationSeries, queueWaitSeries));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _pipeline = ObservationPipeline.Start(_settings, _metrics.ObservationsDropped, Context.Materializer());
        _log.Debug("Observation pipeline started with a buffer of {0}", _settings.BufferSize);
        // A tenth of the TTL, so a value is freed at most 10 % late; never busier than once a second.
        var interval = TimeSpan.FromTicks(Math.Clamp(_labelTtl.Ticks / 10, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
        Timers.StartPeriodicTimer(ExpiryTimer, ExpireIdleLabels.Instance, interval);
    }

    private void Expire()
    {
        var (values, series) = _metrics.ExpireIdleLabels(_labelTtl);
        if (values > 0)
            _log.Info("Freed {0} label values not seen for {1} and removed their {2} series", values, _labelTtl, series);
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
        _metrics.CountPubSubMessage(handled.Channel, handled.MessageType, handled.Broker);
        if (handled.LatencySeconds is { } latency)
            _pipeline.Offer(_metrics.PubSubLatencySeries(handled.Channel, handled.Broker), latency);
    }

    private sealed record ExpireIdleLabels : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly ExpireIdleLabels Instance = new();
    }
}
