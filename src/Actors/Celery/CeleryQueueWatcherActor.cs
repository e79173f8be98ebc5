using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// Polls the broker's queues every refresh interval and sets <c>celery_queue_length</c> (plain list plus priority
/// sub-lists), <c>celery_queue_length_by_priority</c>, <c>celery_queue_oldest_task_age_seconds</c>,
/// <c>celery_queue_unacked</c> and <c>celery_queue_consumers</c> (from the inspector's last round). Which queues:
/// those declared on the broker, those events and remote control reveal (<see cref="CeleryQueuesDiscovered"/>),
/// and the configured ones; a queue with tasks and no worker is shown like any other, with 0 consumers. States:
/// <c>Idle</c> between polls, <c>Polling</c> while one is out (a slow broker never gets two at once).
/// </summary>
public sealed class CeleryQueueWatcherActor : ReceiveActor, IWithTimers
{
    private const string PollTimer = "poll";
    private readonly CeleryMonitorSettings _settings;
    private readonly CeleryBrokerMetrics _metrics;
    private readonly BrokerQueueReader _reader;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private readonly HashSet<(string Queue, int Priority)> _prioritySeries = [];
    private readonly HashSet<string> _unackedSeries = new(StringComparer.Ordinal);
    private readonly HashSet<string> _queueLabels = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    // Null until a remote-control round has answered: before that, consumers are unknown, not zero.
    private IReadOnlyDictionary<string, int>? _consumers;

    /// <summary>Creates the actor.</summary>
    public CeleryQueueWatcherActor(IConnectionMultiplexer broker, CeleryMonitorSettings settings, CeleryBrokerMetrics metrics)
    {
        _settings = settings;
        _metrics = metrics;
        _reader = new BrokerQueueReader(broker, settings);
        Idle(failing: false);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer broker, CeleryMonitorSettings settings, CeleryBrokerMetrics metrics) =>
        Akka.Actor.Props.Create(() => new CeleryQueueWatcherActor(broker, settings, metrics));

    /// <inheritdoc />
    protected override void PreStart()
    {
        Self.Tell(Poll.Instance);
        Timers.StartPeriodicTimer(PollTimer, Poll.Instance, _settings.RefreshInterval);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        // The monitor may move to another node: this one must not keep exporting frozen queue figures, which a
        // sum over nodes would count twice.
        foreach (var label in _queueLabels)
            _metrics.RemoveQueue(label, _prioritySeries.Where(s => s.Queue == label).Select(s => PriorityLabels[s.Priority]));
        _metrics.UnpublishBrokerUp();
    }

    // Between polls. failing: the last poll failed (so a success is logged once, and a failure only once).
    private void Idle(bool failing)
    {
        Observing();
        Receive<Poll>(_ =>
        {
            _reader.ReadAsync(_known.ToArray(), _clock.Elapsed.TotalSeconds)
                .PipeTo(Self, success: s => new Polled(s), failure: e => new PollFailed(e));
            Become(() => Polling(failing));
        });
    }

    private void Polling(bool failing)
    {
        Observing();
        Receive<Poll>(_ => { }); // the poll in flight will do
        Receive<Polled>(m =>
        {
            if (failing) _log.Info("Celery broker queues readable again");
            _metrics.SetBrokerUp(true);
            Publish(m.Snapshot);
            Become(() => Idle(failing: false));
        });
        Receive<PollFailed>(m =>
        {
            if (!failing) _log.Warning("Could not read the Celery broker's queues: {0}", m.Cause.GetBaseException().Message);
            _metrics.SetBrokerUp(false);
            Become(() => Idle(failing: true));
        });
    }

    // What the other Celery actors tell, in every state.
    private void Observing()
    {
        Receive<CeleryQueuesDiscovered>(m => _known.UnionWith(m.Queues));
        Receive<CeleryQueueConsumersObserved>(m => _consumers = m.Consumers);
    }

    private void Publish(BrokerQueuesSnapshot snapshot)
    {
        foreach (var (queue, state) in snapshot.Queues)
        {
            var label = _metrics.Queue(queue);
            _queueLabels.Add(label);
            _metrics.SetQueue(label, state.Length, state.OldestAgeSeconds);
            if (_consumers is not null) _metrics.SetQueueConsumers(label, _consumers.GetValueOrDefault(queue));
            for (var p = 0; p < BrokerQueueReader.Priorities; p++)
            {
                var length = state.ByPriority.GetValueOrDefault(p);
                // Only priorities that hold (or held) tasks get a series: ten per queue would be mostly zeros.
                if (length > 0 || _prioritySeries.Contains((label, p)))
                {
                    _prioritySeries.Add((label, p));
                    _metrics.SetQueuePriority(label, PriorityLabels[p], length);
                }
            }
            if (snapshot.Unacked.ContainsKey(queue) || _unackedSeries.Contains(label))
            {
                _unackedSeries.Add(label);
                _metrics.SetQueueUnacked(label, snapshot.Unacked.GetValueOrDefault(queue));
            }
        }
    }

    private static readonly string[] PriorityLabels =
        Enumerable.Range(0, BrokerQueueReader.Priorities).Select(p => p.ToString()).ToArray();

    private sealed record Poll : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Poll Instance = new();
    }

    private sealed record Polled(BrokerQueuesSnapshot Snapshot) : INoSerializationVerificationNeeded;

    private sealed record PollFailed(Exception Cause) : INoSerializationVerificationNeeded;
}
