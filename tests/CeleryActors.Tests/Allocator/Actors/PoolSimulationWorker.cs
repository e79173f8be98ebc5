using CeleryActors.Messages.Allocator;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>One simulated worker process: half of them list what they run in heartbeats and name the queue in
/// reports, two have the capability some tasks require.</summary>
internal sealed class PoolSimulationWorker(string name, int index)
{
    public string Name { get; } = name;
    public string Instance { get; private set; } = Guid.NewGuid().ToString("N");
    public IReadOnlyDictionary<string, CapabilityValue> Capabilities { get; } = index < 2
        ? new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of("yes") }
        : new Dictionary<string, CapabilityValue>();
    public bool SendsRunning { get; } = index % 2 == 0;
    public bool SendsQueue { get; } = index % 2 == 1;
    public List<string> Queues { get; private set; } = [];
    public int Pool { get; private set; }
    /// <summary>The pool an assignment is checked against: the larger of old and new while a registration is
    /// being taken in.</summary>
    public int Allowed { get; private set; }
    public Dictionary<(string Queue, string Id), int> Held { get; } = new();
    public HashSet<(string Queue, string Id)> Started { get; } = [];
    /// <summary>Gone (silent) or restarting: what it is sent is lost.</summary>
    public bool Deaf { get; private set; }
    /// <summary>Queues it just left: what they send it now was decided before.</summary>
    public HashSet<string>? DeafTo { get; private set; }
    public bool Silent { get; private set; }
    public bool Busy { get; private set; }
    public bool Speaks => !Silent;
    public long LastSpoke { get; set; }

    public RegisterWorker Registration => new(Name, Queues, Capabilities, Pool, Instance: Instance);

    /// <summary>Whether an assignment from <paramref name="queue"/> reaches the process now.</summary>
    public bool Hears(string queue) => !Deaf && !(DeafTo?.Contains(queue) ?? false);

    public void Forget((string Queue, string Id) task)
    {
        Held.Remove(task);
        Started.Remove(task);
    }

    public void Register(List<string> queues, int pool)
    {
        Queues = queues;
        Pool = Allowed = pool;
    }

    /// <summary>It registers again, busy until the node has taken that in; a restart is a new process.</summary>
    public void Reregister(List<string> queues, int pool, bool restart)
    {
        var old = Queues;
        Queues = queues;
        Pool = pool;
        Allowed = restart ? pool : Math.Max(Allowed, pool);
        if (restart) Restart();
        else Leave(old.Except(queues));
        Busy = true;
    }

    /// <summary>A new process: a new instance, deaf until the node has taken it in, holding nothing.</summary>
    private void Restart()
    {
        Instance = Guid.NewGuid().ToString("N");
        Deaf = true;
        Held.Clear();
        Started.Clear();
    }

    /// <summary>It leaves <paramref name="queues"/>: what it held there is gone, and what they send now is old.</summary>
    private void Leave(IEnumerable<string> queues)
    {
        var left = queues.ToHashSet();
        DeafTo = left;
        foreach (var gone in Held.Keys.Where(k => left.Contains(k.Queue)).ToList()) Forget(gone);
    }

    /// <summary>The node has taken its registration in: only the new pool counts.</summary>
    public void TakenIn()
    {
        Allowed = Pool;
        Deaf = false;
        DeafTo = null;
        Busy = false;
    }

    public void GoSilent() => Silent = Deaf = Busy = true;

    /// <summary>Back after the node declared it offline, holding nothing (the node took it all back).</summary>
    public void ComeBack()
    {
        Held.Clear();
        Started.Clear();
        Silent = Deaf = Busy = false;
    }
}
