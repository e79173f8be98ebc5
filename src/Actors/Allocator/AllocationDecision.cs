using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>A worker as one queue sees it: what it offers and how many of the queue's tasks it holds.</summary>
public sealed class WorkerSlot
{
    /// <summary>Creates a slot view of a worker.</summary>
    public WorkerSlot(string name, IReadOnlyDictionary<string, CapabilityValue> capabilities, int slots)
    {
        Name = name;
        Capabilities = capabilities;
        Slots = slots;
    }

    /// <summary>The worker's name.</summary>
    public string Name { get; }

    /// <summary>Its capabilities.</summary>
    public IReadOnlyDictionary<string, CapabilityValue> Capabilities { get; set; }

    /// <summary>Unfinished tasks of this queue it may hold (its pool size, or its share of it).</summary>
    public int Slots { get; set; }

    /// <summary>Unfinished tasks of this queue it holds now.</summary>
    public int Load { get; set; }

    /// <summary>Whether it serves the queue now (online and registered for it).</summary>
    public bool Online { get; set; } = true;

    /// <summary>Whether it can take one more task.</summary>
    public bool HasRoom => Online && Load < Slots;
}

/// <summary>
/// Picks the worker for a task (SPEC §4): an online worker with room (fewer unfinished tasks than its slots)
/// whose capabilities meet every requirement (numbers ≥, strings equal); among those, the least loaded, and
/// between equally loaded ones the first in registration order, so the choice is deterministic. Plain and
/// allocation-free, so it can run a million times a second.
/// </summary>
public static class AllocationDecision
{
    /// <summary>The chosen worker, or null when none can take the task now.</summary>
    public static WorkerSlot? Choose(List<WorkerSlot> workers, IReadOnlyDictionary<string, CapabilityValue>? requires)
    {
        // A span over the list: no interface calls or bounds checks in the loop that runs per decision.
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(workers);
        WorkerSlot? best = null;
        foreach (var w in span)
        {
            if (!w.HasRoom) continue;
            if (best is not null && w.Load >= best.Load) continue;
            if (requires is not null && !Meets(w.Capabilities, requires)) continue;
            best = w;
            if (best.Load == 0) break;
        }
        return best;
    }

    /// <summary>The chosen worker, or null when none can take the task now.</summary>
    public static WorkerSlot? Choose(IReadOnlyList<WorkerSlot> workers, IReadOnlyDictionary<string, CapabilityValue>? requires)
    {
        WorkerSlot? best = null;
        for (var i = 0; i < workers.Count; i++)
        {
            var w = workers[i];
            if (!w.HasRoom) continue;
            if (best is not null && w.Load >= best.Load) continue;
            if (requires is not null && !Meets(w.Capabilities, requires)) continue;
            best = w;
            if (best.Load == 0) break; // nobody is less loaded than idle
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

    /// <summary>Whether any worker (with room or not, online or not) could ever meet the requirements: used
    /// to tell a task that waits for room from one that waits for a capable worker.</summary>
    public static bool AnyCapable(IReadOnlyList<WorkerSlot> workers, IReadOnlyDictionary<string, CapabilityValue>? requires)
    {
        if (requires is null) return workers.Count > 0;
        for (var i = 0; i < workers.Count; i++)
            if (Meets(workers[i].Capabilities, requires)) return true;
        return false;
    }
}
