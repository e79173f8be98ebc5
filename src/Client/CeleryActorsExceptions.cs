namespace CeleryActors.Client;

/// <summary>A call of the actor client failed.</summary>
public class CeleryActorsException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// No reply came within the call's timeout: no contact node could be reached, or the cluster did not answer in time.
/// </summary>
public sealed class CeleryActorsTimeoutException(string call, TimeSpan timeout, IReadOnlyList<string> contacts)
    : CeleryActorsException(
        $"{call}: no reply from the cluster within {timeout.TotalSeconds:0.###} s (contacts: {string.Join(", ", contacts)})")
{
    /// <summary>The call that timed out, e.g. <c>GetWorkers</c>.</summary>
    public string Call { get; } = call;

    /// <summary>The timeout that passed.</summary>
    public TimeSpan Timeout { get; } = timeout;

    /// <summary>The contacts the client was configured with.</summary>
    public IReadOnlyList<string> Contacts { get; } = contacts;
}

/// <summary>The node that took the call answered that it could not carry it out (an entity or Redis did not answer
/// it in time).</summary>
public sealed class CeleryActorsGatewayException(string call, string reason)
    : CeleryActorsException($"{call}: the cluster could not answer: {reason}")
{
    /// <summary>The call.</summary>
    public string Call { get; } = call;

    /// <summary>The node's reason.</summary>
    public string Reason { get; } = reason;
}
