using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// A worker as one queue sees it: what it offers, how much room it said it has, and where the slot protocol with
/// it stands. Not event-sourced: online workers announce themselves to their queues every announce interval.
/// </summary>
public sealed class WorkerSlot
{
    /// <summary>Creates the view of a worker.</summary>
    public WorkerSlot(string name, IReadOnlyDictionary<string, CapabilityValue> capabilities)
    {
        Name = name;
        Capabilities = capabilities;
    }

    /// <summary>The worker's name.</summary>
    public string Name { get; }

    /// <summary>Its capabilities.</summary>
    public IReadOnlyDictionary<string, CapabilityValue> Capabilities { get; set; }

    /// <summary>The newest incarnation of its entity heard of: grants of older ones are ignored.</summary>
    public long Epoch { get; set; }

    /// <summary>Free slots of its whole pool, as its last message said.</summary>
    public int Free { get; set; }

    /// <summary>Its unfinished tasks over all queues, as its last message said.</summary>
    public int Held { get; set; }

    /// <summary>An offer was sent to it and it has not answered (granted or said it is full) yet.</summary>
    public bool Offered { get; set; }

    /// <summary>What it was last told waits here (null: nothing, or told nothing).</summary>
    public TaskOffer? Told { get; set; }
}

/// <summary>
/// Picks the worker a waiting task is offered to (SPEC §4): a worker of the queue that said it has room, has no
/// unanswered offer from this queue, and whose capabilities meet every requirement (numbers ≥, strings equal);
/// among those, the least loaded (fewest unfinished tasks over all its queues), and between equals the first
/// registered, so the choice is deterministic. Plain and allocation-free.
/// </summary>
public static class AllocationDecision
{
    /// <summary>The worker to offer a task with <paramref name="requires"/> to, or null when none has room.</summary>
    public static WorkerSlot? Choose(List<WorkerSlot> workers, IReadOnlyDictionary<string, CapabilityValue>? requires)
    {
        // A span over the list: no interface calls or bounds checks in the loop that runs per decision.
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(workers);
        WorkerSlot? best = null;
        foreach (var w in span)
        {
            if (w.Free <= 0 || w.Offered) continue;
            if (best is not null && w.Held >= best.Held) continue;
            if (requires is not null && !Meets(w.Capabilities, requires)) continue;
            best = w;
            if (best.Held == 0) break; // nobody is less loaded than idle
        }
        return best;
    }

    /// <summary>Whether <paramref name="capabilities"/> meet every one of <paramref name="requires"/>.</summary>
    public static bool Meets(IReadOnlyDictionary<string, CapabilityValue> capabilities,
        IReadOnlyDictionary<string, CapabilityValue> requires)
    {
        foreach (var (name, needed) in requires)
            if (!capabilities.TryGetValue(name, out var have) || !have.Meets(needed)) return false;
        return true;
    }
}
