using Akka.Actor;
using Akka.Cluster.Tools.Client;
using CeleryActors.Messages.Client;

namespace CeleryActors.Client;

/// <summary>
/// The client's one sender: it owns the cluster client, numbers every call, sends it to a node's gateway as a
/// <see cref="ClientRequest"/>, and completes the caller's task when the <see cref="ClientResponse"/> of that
/// number comes back. One long-lived sender matters for speed: the nodes' receptionists open a response tunnel
/// (an actor) per sender, and with a temporary sender per call (an ask) they opened one per call. Calls whose
/// caller stopped waiting (timeout) are forgotten after <see cref="ForgetAfter"/>.
/// </summary>
public sealed class ClientConnectionActor : ReceiveActor, IWithTimers
{
    private readonly IActorRef _clusterClient;
    private readonly TimeSpan _forgetAfter;
    private readonly Dictionary<long, (TaskCompletionSource<object> Reply, long At)> _pending = [];
    private long _next;

    /// <summary>Creates the connection over a cluster client with <paramref name="settings"/>.</summary>
    /// <param name="settings">The cluster client's settings (contacts, timings).</param>
    /// <param name="forgetAfter">How long an unanswered call is kept (the callers' timeout).</param>
    public ClientConnectionActor(ClusterClientSettings settings, TimeSpan forgetAfter)
    {
        _clusterClient = Context.ActorOf(ClusterClient.Props(settings), "cluster-client");
        _forgetAfter = forgetAfter;
        Receive<Call>(Send);
        Receive<ClientResponse>(Complete);
        Receive<ForgetStale>(_ => ForgetStaleCalls());
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>How long an unanswered call is kept before it is dropped.</summary>
    public TimeSpan ForgetAfter => _forgetAfter;

    /// <summary>Props for the connection.</summary>
    public static Props Props(ClusterClientSettings settings, TimeSpan forgetAfter) =>
        Akka.Actor.Props.Create(() => new ClientConnectionActor(settings, forgetAfter));

    /// <inheritdoc />
    protected override void PreStart() =>
        Timers.StartPeriodicTimer("forget", ForgetStale.Instance, _forgetAfter);

    /// <inheritdoc />
    protected override void PostStop()
    {
        // The caller sees the client's own exception type, not a bare cancellation.
        foreach (var (reply, _) in _pending.Values)
            reply.TrySetException(new CeleryActorsException("the client was stopped before the cluster answered"));
    }

    private void Send(Call call)
    {
        var id = ++_next;
        _pending[id] = (call.Reply, Environment.TickCount64);
        // Local affinity: the contact node's own gateway answers, saving a hop inside the cluster.
        _clusterClient.Tell(new ClusterClient.Send(CeleryActorsClient.GatewayPath, new ClientRequest(id, call.Message),
            localAffinity: true));
    }

    private void Complete(ClientResponse response)
    {
        if (_pending.Remove(response.Id, out var call)) call.Reply.TrySetResult(response.Response);
    }

    private void ForgetStaleCalls()
    {
        var now = Environment.TickCount64;
        foreach (var id in _pending.Where(p => now - p.Value.At > _forgetAfter.TotalMilliseconds).Select(p => p.Key).ToList())
            _pending.Remove(id);
    }

    /// <summary>A call to send; <paramref name="Reply"/> gets the gateway's answer.</summary>
    /// <param name="Message">The request.</param>
    /// <param name="Reply">Completed with the response.</param>
    public sealed record Call(object Message, TaskCompletionSource<object> Reply) : INoSerializationVerificationNeeded;

    private sealed class ForgetStale : INoSerializationVerificationNeeded
    {
        public static readonly ForgetStale Instance = new();
    }
}
