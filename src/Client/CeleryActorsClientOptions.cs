using Akka.Actor;

namespace CeleryActors.Client;

/// <summary>How the actor client finds the cluster and how long it waits for answers.</summary>
public sealed record CeleryActorsClientOptions
{
    /// <summary>The environment variable holding comma-separated contacts (<c>HOST:PORT</c>).</summary>
    public const string ContactsVariable = "CELERYACTORS_CONTACTS";

    /// <summary>The host nodes' actor system name; every contact must belong to it.</summary>
    public const string ClusterSystemName = "celery-actors";

    /// <summary>
    /// Host nodes to make first contact with: <c>HOST:PORT</c> (a node's <c>CLUSTER_HOSTNAME</c> and
    /// <c>CLUSTER_PORT</c>) or a full receptionist path (<c>akka.tcp://celery-actors@HOST:PORT/system/receptionist</c>).
    /// One reachable node is enough; the client learns the others from it. Required, at least one.
    /// </summary>
    public IReadOnlyList<string> Contacts { get; init; } = [];

    /// <summary>How long a call waits for its reply before it fails with <see cref="CeleryActorsTimeoutException"/>.
    /// Default 10 s: long enough to ride out a move to another contact (about 5 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The address the client's own remoting binds and gives the nodes to answer to. Default
    /// <c>127.0.0.1</c>; set it to an address the nodes can reach when they run on other machines.</summary>
    public string Hostname { get; init; } = "127.0.0.1";

    /// <summary>Options with the contacts of <see cref="ContactsVariable"/> (none when it is unset).</summary>
    public static CeleryActorsClientOptions FromEnvironment() =>
        new() { Contacts = SplitContacts(Environment.GetEnvironmentVariable(ContactsVariable)) };

    /// <summary>Splits a comma-separated contact list, dropping empty entries.</summary>
    public static IReadOnlyList<string> SplitContacts(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// The receptionist path of one contact. Throws <see cref="ArgumentException"/> naming the contact when it is
    /// neither <c>HOST:PORT</c> (port 1-65535) nor a full actor path.
    /// </summary>
    public static ActorPath ReceptionistPath(string contact)
    {
        if (contact.Contains("://", StringComparison.Ordinal))
        {
            if (ActorPath.TryParse(contact, out var full)) return full;
            throw new ArgumentException($"contact '{contact}' is not an actor path", nameof(contact));
        }
        var colon = contact.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(contact[(colon + 1)..], out var port) || port is < 1 or > 65535)
            throw new ArgumentException($"contact '{contact}' is not HOST:PORT", nameof(contact));
        // An IPv6 host keeps its brackets ([::1]:4053), as Akka addresses write it.
        var host = contact[..colon];
        if (host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[')) host = $"[{host}]";
        return ActorPath.TryParse($"akka.tcp://{ClusterSystemName}@{host}:{port}/system/receptionist", out var path)
            ? path
            : throw new ArgumentException($"contact '{contact}' is not HOST:PORT", nameof(contact));
    }

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> saying what is wrong.</summary>
    public void Validate()
    {
        if (Contacts.Count == 0)
            throw new ArgumentException($"no contacts: give at least one HOST:PORT (or set {ContactsVariable})");
        foreach (var contact in Contacts) ReceptionistPath(contact);
        if (Timeout <= TimeSpan.Zero) throw new ArgumentException($"timeout must be positive, not {Timeout}");
    }
}
