using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The durable intake: a producer XADDs a task to the stream <c>P + tasks:{queue}</c> (field <c>payload</c>, the
/// JSON of the pub/sub message) and the task is in Redis the moment XADD returns. Every node reads every task
/// stream through one consumer group, so each entry goes to one node, which submits it to its queue entity as
/// a client would and acknowledges it (XACK, then XDEL, so the stream does not grow) only once the entity
/// answers that the task is in the journal, accepted or a duplicate. An entry not acknowledged (its node died,
/// the entity was restarting, the queue was full) stays pending in Redis and is claimed by a node after
/// <see cref="AllocatorSettings.StreamClaimIdle"/> (XAUTOCLAIM) and submitted again: the entity knows it by its
/// task id. States: <c>Waiting</c> between reads and <c>Reading</c> while a read is out; new streams are looked
/// for every <see cref="AllocatorSettings.StreamDiscoverInterval"/>.
/// </summary>
public sealed class StreamIntakeActor : ReceiveActor, IWithTimers
{
    private const string DiscoverTimer = "discover", ClaimTimer = "claim", PollTimer = "poll", AckTimer = "ack",
        GiveUpTimer = "give-up";
    private const int MaxInFlight = 10_000;
    private static readonly TimeSpan SubmitTimeout = TimeSpan.FromSeconds(10);

    private readonly TaskStreams _redis;
    private readonly AllocatorSettings _settings;
    private readonly IActorRef _queues;
    private readonly IActorRef _recorder;
    private readonly AllocatorMetrics _metrics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LogThrottle _rejectionLog = new();
    private readonly LogThrottle _failureLog = new(perSecond: 1);
    private readonly HashSet<string> _streams = new(StringComparer.Ordinal);
    private readonly StreamSubmissions _inFlight = new();

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection.</param>
    /// <param name="settings">Channels, limits and the stream timings.</param>
    /// <param name="queues">The queue region.</param>
    /// <param name="recorder">The metrics recorder, which counts rejected entries.</param>
    /// <param name="metrics">The node's metrics, for <c>celery_task_stream_length</c>.</param>
    public StreamIntakeActor(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef queues, IActorRef recorder,
        AllocatorMetrics metrics)
    {
        _settings = settings;
        _queues = queues;
        _recorder = recorder;
        _metrics = metrics;
        // One consumer per node incarnation: a restarted node does not inherit a dead one's pending entries by
        // name; they are claimed like any other node's.
        _redis = new TaskStreams(redis.GetDatabase(), settings, Cluster.Get(Context.System).SelfUniqueAddress.ToString());
        Waiting(emptyReads: 0);
    }

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, AllocatorSettings settings, IActorRef queues, IActorRef recorder,
        AllocatorMetrics metrics) =>
        Akka.Actor.Props.Create(() => new StreamIntakeActor(redis, settings, queues, recorder, metrics));

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override void PreStart()
    {
        Self.Tell(Discover.Instance);
        Timers.StartPeriodicTimer(DiscoverTimer, Discover.Instance, _settings.StreamDiscoverInterval);
        Timers.StartPeriodicTimer(ClaimTimer, Claim.Instance, _settings.StreamClaimIdle / 2);
        Timers.StartPeriodicTimer(GiveUpTimer, GiveUp.Instance, TimeSpan.FromSeconds(1));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _redis.Flush();
        // Whichever node reads on shows the lengths; a frozen copy here would win every max by (queue).
        foreach (var stream in _streams) _metrics.RemoveStreamLength(_settings.Channels.QueueOf(stream));
    }

    // Between reads. emptyReads: how many reads in a row found nothing (the next poll waits longer).
    private void Waiting(int emptyReads)
    {
        Common();
        Receive<Poll>(_ => StartRead(emptyReads));
    }

    private void Reading(int emptyReads)
    {
        Common();
        Receive<Poll>(_ => { }); // the read out will do
        Receive<Read>(read =>
        {
            var entries = 0;
            foreach (var stream in read.Streams)
            foreach (var entry in stream.Entries)
            {
                Submit(stream.Key!, entry);
                entries++;
            }
            if (entries > 0)
            {
                Become(() => Waiting(emptyReads: 0));
                Self.Tell(Poll.Instance);
            }
            else
            {
                Become(() => Waiting(emptyReads + 1));
                PollLater(emptyReads);
            }
        });
        Receive<ReadFailed>(failed =>
        {
            Failed("reading the task streams", failed.Cause);
            // A stream deleted, or a Redis that lost its data, has no group any more: find the streams again.
            if (failed.Cause.Message.Contains("NOGROUP", StringComparison.Ordinal)) _streams.Clear();
            Become(() => Waiting(emptyReads));
            Timers.StartSingleTimer(PollTimer, Poll.Instance, TimeSpan.FromSeconds(1));
        });
    }

    private void Common()
    {
        Receive<Discover>(_ => _redis.FindAsync().PipeTo(Self, success: found => new Discovered(found.Streams, found.Lengths),
            failure: e => new RedisFailed("looking for task streams", e)));
        Receive<Discovered>(found =>
        {
            foreach (var (stream, length) in found.Streams.Zip(found.Lengths))
                _metrics.SetStreamLength(_settings.Channels.QueueOf(stream), length);
            foreach (var stream in found.Streams.Where(s => !_streams.Contains(s)))
                _redis.JoinAsync(stream).PipeTo(Self, success: () => new GroupReady(stream),
                    failure: e => new RedisFailed("creating the consumer group of " + stream, e));
        });
        Receive<GroupReady>(ready =>
        {
            if (_streams.Add(ready.Stream)) _log.Info("Reading the task stream {0}", ready.Stream);
            Self.Tell(Poll.Instance);
        });
        Receive<RedisFailed>(failed => Failed(failed.What, failed.Cause));
        Receive<Claim>(_ =>
        {
            foreach (var stream in _streams) _redis.ClaimIdleAsync(stream).PipeTo(Self, success: e => new Claimed(stream, e),
                failure: e => new RedisFailed("claiming the idle entries of " + stream, e));
        });
        Receive<Claimed>(claimed =>
        {
            if (claimed.Entries.Length > 0)
                _log.Info("Claimed {0} entries of {1} left unacknowledged for {2}", claimed.Entries.Length, claimed.Stream,
                    _settings.StreamClaimIdle);
            foreach (var entry in claimed.Entries) Submit(claimed.Stream, entry);
        });
        // The entity answers the intake itself (it was the sender): no Ask, no temporary actor per task.
        Receive<TaskSubmitted>(submitted =>
        {
            if (_inFlight.Settle(submitted.Queue, submitted.TaskId) is { } entry) Acknowledge(entry.Stream, entry.EntryId);
        });
        Receive<TaskRefused>(refused =>
        {
            // Left pending: Redis holds it until the queue has room, and a claim submits it again.
            if (_inFlight.Settle(refused.Queue, refused.TaskId) is { } entry && _failureLog.TryAcquire(out _))
                _log.Warning("Task stream {0}: entry {1} refused ({2}); it stays in the stream", entry.Stream, entry.EntryId, refused.Reason);
        });
        Receive<GiveUp>(tick =>
        {
            var given = _inFlight.GiveUp(Environment.TickCount64 - (long)SubmitTimeout.TotalMilliseconds);
            if (given > 0 && _failureLog.TryAcquire(out _))
                _log.Warning("Durable intake: {0} entries not stored within {1}; they stay in their streams and are submitted again",
                    given, SubmitTimeout);
        });
        Receive<FlushAcksNow>(_ => _redis.Flush());
    }

    // After an empty read the next waits 1 ms, doubling up to StreamPollInterval while the streams stay empty: a
    // streamed task waits about a millisecond under load, and an idle node reads a few dozen times a second.
    // Task.Delay, not a timer: the scheduler's 10 ms tick would be most of a task's wait.
    private void PollLater(int emptyReads)
    {
        var wait = Math.Min(_settings.StreamPollInterval.TotalMilliseconds, 1 << Math.Min(emptyReads, 16));
        Task.Delay(TimeSpan.FromMilliseconds(wait)).PipeTo(Self, success: () => Poll.Instance);
    }

    private void StartRead(int emptyReads)
    {
        // With no stream there is nothing to read until discovery finds one, and its GroupReady polls.
        if (_streams.Count == 0) return;
        if (_inFlight.Count >= MaxInFlight)
        {
            Timers.StartSingleTimer(PollTimer, Poll.Instance, _settings.StreamPollInterval);
            return;
        }
        Timers.Cancel(PollTimer);
        _redis.ReadAsync(_streams).PipeTo(Self, success: r => new Read(r), failure: e => new ReadFailed(e));
        Become(() => Reading(emptyReads));
    }

    private void Submit(string stream, StreamEntry entry)
    {
        var id = entry.Id.ToString();
        if (_inFlight.Contains(stream, id)) return; // submitted already, the answer is on its way
        var payload = entry["payload"];
        if (payload.IsNull)
        {
            Reject(stream, id, RejectionReason.MissingField, "the entry has no field payload");
            return;
        }
        var bytes = (byte[])payload!;
        if (bytes.Length > _settings.MaxPayloadBytes)
        {
            Reject(stream, id, RejectionReason.TooLarge, $"payload of {bytes.Length} bytes is over the limit of {_settings.MaxPayloadBytes}");
            return;
        }
        // The entry id names a task that has none: two identical payloads are two tasks.
        var parsed = TaskMessageParser.Parse(stream, _settings.Channels.QueueOf(stream), bytes, AllocatorSettings.Now(), "s-" + id);
        if (parsed.IsRejected)
        {
            Reject(stream, id, parsed.Reason, parsed.Detail!);
            return;
        }
        var task = parsed.Message!;
        _inFlight.Add(stream, id, task.Queue, task.TaskId, Environment.TickCount64);
        _queues.Tell(task, Self);
    }

    // A bad entry is counted and logged like a bad publication, then acknowledged: it would never get better.
    private void Reject(string stream, string id, RejectionReason reason, string detail)
    {
        _recorder.Tell(new MessageRejected(ChannelKind.Tasks, stream, reason, detail));
        if (_rejectionLog.TryAcquire(out var suppressed))
            _log.Warning("Rejected entry {0} of the task stream {1}: {2} ({3}){4}", id, stream, reason, detail,
                suppressed > 0 ? $"; {suppressed} more rejections not logged" : "");
        Acknowledge(stream, id);
    }

    // Sent in batches, or 5 ms after the first of a batch.
    private void Acknowledge(string stream, string id)
    {
        if (!_redis.Acknowledge(stream, id) && !Timers.IsTimerActive(AckTimer))
            Timers.StartSingleTimer(AckTimer, FlushAcksNow.Instance, TimeSpan.FromMilliseconds(5));
    }

    private void Failed(string what, Exception cause)
    {
        if (_failureLog.TryAcquire(out var suppressed))
            _log.Warning("Durable intake: {0} failed: {1}{2}", what, cause.GetBaseException().Message,
                suppressed > 0 ? $" ({suppressed} more failures not logged)" : "");
    }

    private sealed class Discover : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Discover Instance = new();
    }

    private sealed record Discovered(string[] Streams, long[] Lengths) : INoSerializationVerificationNeeded;

    private sealed record RedisFailed(string What, Exception Cause) : INoSerializationVerificationNeeded;

    private sealed record GroupReady(string Stream) : INoSerializationVerificationNeeded;

    private sealed class Poll : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Poll Instance = new();
    }

    private sealed record Read(RedisStream[] Streams) : INoSerializationVerificationNeeded;

    private sealed record ReadFailed(Exception Cause) : INoSerializationVerificationNeeded;

    private sealed class Claim : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Claim Instance = new();
    }

    private sealed record Claimed(string Stream, StreamEntry[] Entries) : INoSerializationVerificationNeeded;

    private sealed class GiveUp : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly GiveUp Instance = new();
    }

    private sealed class FlushAcksNow : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly FlushAcksNow Instance = new();
    }
}
