using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Health;
using CeleryActors.Messages.Subscription;
using StackExchange.Redis;

namespace CeleryActors.Actors.Health;

/// <summary>
/// Probes Redis at an interval and answers <see cref="GetNodeHealth"/>. States: <c>Disconnected</c> (the start,
/// and after a failed probe) and <c>Connected</c>. Every change is published on the event stream as
/// <see cref="RedisConnectionChanged"/> and shown in <c>celery_redis_connected</c>. The probe runs on the shared
/// connection, so it sees exactly what the node's other Redis users see. A node that stays disconnected for
/// <c>leaveAfter</c> (<c>CLUSTER_LEAVE_WITHOUT_REDIS</c>) leaves the cluster through coordinated shutdown, so its
/// entities move to nodes that can write their journals and its share of the pub/sub messages to nodes that hear
/// them (unless no other member could take them); it notes that in <see cref="RedisCutOff"/>, and the process joins
/// again once Redis is back.
/// </summary>
public sealed class NodeHealthActor : ReceiveActor, IWithTimers
{
    private const string ProbeTimer = "probe";
    private const string LeaveTimer = "leave";
    private string? _lastError; // the reason last logged, so a reason that does not change is logged once
    private readonly IConnectionMultiplexer _redis;
    private readonly CeleryMetrics _metrics;
    private readonly TimeSpan _interval;
    private readonly TimeSpan? _leaveAfter;
    private readonly RedisCutOff _cutOff;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Cluster _cluster = Cluster.Get(Context.System);

    /// <summary>Creates the actor.</summary>
    /// <param name="redis">The node's shared connection.</param>
    /// <param name="metrics">The node's metrics, for <c>celery_redis_connected</c>.</param>
    /// <param name="interval">How often Redis is probed; a probe times out after the same interval.</param>
    /// <param name="leaveAfter">How long Redis may stay out of reach before the node leaves the cluster; null: never.</param>
    /// <param name="cutOff">Where the node notes that it left because of Redis.</param>
    public NodeHealthActor(IConnectionMultiplexer redis, CeleryMetrics metrics, TimeSpan interval, TimeSpan? leaveAfter = null,
        RedisCutOff? cutOff = null)
    {
        _redis = redis;
        _metrics = metrics;
        _interval = interval;
        _leaveAfter = leaveAfter;
        _cutOff = cutOff ?? new RedisCutOff();
        Disconnected();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the actor.</summary>
    public static Props Props(IConnectionMultiplexer redis, CeleryMetrics metrics, TimeSpan interval,
        TimeSpan? leaveAfter = null, RedisCutOff? cutOff = null) =>
        Akka.Actor.Props.Create(() => new NodeHealthActor(redis, metrics, interval, leaveAfter, cutOff));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _metrics.RedisConnected.Set(0);
        Self.Tell(Probe.Instance);
        Timers.StartPeriodicTimer(ProbeTimer, Probe.Instance, _interval);
        StartLeaveTimer();
    }

    private void Disconnected()
    {
        Common(connected: false);
        Receive<ProbeSucceeded>(_ =>
        {
            Timers.Cancel(LeaveTimer);
            Changed(true, "PING answered");
            Become(Connected);
        });
        Receive<LeaveCluster>(_ => Leave());
        Receive<ProbeFailed>(m =>
        {
            if (m.Reason == _lastError) return;
            _lastError = m.Reason;
            _log.Warning("Redis unreachable: {0}", m.Reason);
        });
    }

    private void Connected()
    {
        Common(connected: true);
        Receive<ProbeSucceeded>(_ => { });
        Receive<ProbeFailed>(m =>
        {
            _lastError = m.Reason;
            Changed(false, m.Reason);
            StartLeaveTimer();
            Become(Disconnected);
        });
        Receive<LeaveCluster>(_ => { }); // Redis came back in time
    }

    private void StartLeaveTimer()
    {
        if (_leaveAfter is { } after) Timers.StartSingleTimer(LeaveTimer, LeaveCluster.Instance, after);
    }

    // Its journals cannot be written from here, nor its pub/sub heard: the node hands its entities to the others.
    // Alone (or with nobody reachable to take over) it stays: leaving would only stop what waits for Redis here.
    private void Leave()
    {
        var state = _cluster.State;
        var heirs = state.Members.Count(m => m.Address != _cluster.SelfAddress && m.Status == MemberStatus.Up &&
                                             !state.Unreachable.Contains(m));
        if (heirs == 0)
        {
            _log.Warning("Redis unreachable for {0}, but no other member could take this node's entities: staying",
                _leaveAfter);
            StartLeaveTimer();
            return;
        }
        var others = state.Members.Where(m => m.Address != _cluster.SelfAddress)
            .Select(m => m.Address.ToString()).ToList();
        _log.Warning("Redis unreachable for {0} (CLUSTER_LEAVE_WITHOUT_REDIS): leaving the cluster, so that its " +
                     "entities move to nodes that reach Redis; the node joins again once Redis answers", _leaveAfter);
        _cutOff.Leaving(others);
        CoordinatedShutdown.Get(Context.System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        Become(Leaving);
    }

    private void Leaving()
    {
        Common(connected: false);
        Receive<ProbeSucceeded>(_ => { });
        Receive<ProbeFailed>(_ => { });
        Receive<LeaveCluster>(_ => { });
    }

    private void Common(bool connected)
    {
        Receive<Probe>(_ => StartProbe());
        Receive<GetNodeHealth>(_ =>
        {
            var member = _cluster.SelfMember.Status == MemberStatus.Up;
            var detail = (member, connected) switch
            {
                (true, true) => "ok",
                (false, true) => $"not an Up member of the cluster (status {_cluster.SelfMember.Status})",
                // The error itself is in the log: it can name internal addresses, and this answer is served over HTTP.
                (true, false) => "Redis unreachable",
                _ => $"not an Up member of the cluster (status {_cluster.SelfMember.Status}); Redis unreachable",
            };
            var cluster = _cluster.State;
            Sender.Tell(new NodeHealth(member, connected, detail,
                cluster.Members.Count(m => m.Status == MemberStatus.Up), cluster.Unreachable.Count));
        });
    }

    private void StartProbe()
    {
        // A probe times out after one interval, so at most one or two are ever out at once.
        _redis.GetDatabase().PingAsync()
            .WaitAsync(_interval)
            .PipeTo(Self, success: _ => ProbeSucceeded.Instance,
                failure: e => new ProbeFailed(e is TimeoutException ? "PING timed out" : e.GetBaseException().Message));
    }

    private void Changed(bool connected, string detail)
    {
        _metrics.RedisConnected.Set(connected ? 1 : 0);
        if (connected) _log.Info("Redis reachable ({0})", detail);
        else _log.Warning("Redis unreachable: {0}", detail);
        Context.System.EventStream.Publish(new RedisConnectionChanged(connected, detail));
    }

    private sealed record Probe : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Probe Instance = new();
    }

    private sealed record ProbeSucceeded : INoSerializationVerificationNeeded
    {
        public static readonly ProbeSucceeded Instance = new();
    }

    private sealed record ProbeFailed(string Reason) : INoSerializationVerificationNeeded;

    private sealed record LeaveCluster : INoSerializationVerificationNeeded
    {
        public static readonly LeaveCluster Instance = new();
    }
}
