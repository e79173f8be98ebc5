using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The workers serving one queue, as the queue knows them from their messages (not event-sourced), and the
/// queue's side of the slot protocol: whom to tell what waits (<see cref="Offers"/>), and which grants to honour.
/// A worker's room is what it last said; the queue never allocates on it, it only decides whom to ask.
/// </summary>
public sealed class QueueConsumers
{
    private readonly List<WorkerSlot> _workers = [];
    private readonly Dictionary<string, WorkerSlot> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _goneEpochs = new(StringComparer.Ordinal);

    /// <summary>Workers serving the queue now (online and registered for it).</summary>
    public int Count => _workers.Count;

    /// <summary>A worker's announcement: adds or refreshes it. The answer to the announcement carries
    /// <paramref name="offer"/>, what waits for it here: that is what it was told, and an offer to a worker with room.
    /// Returns whether the worker was new, or null when the announcement comes from an incarnation older than one
    /// already heard.</summary>
    public bool? Upsert(WorkerServesQueue serves, TaskOffer? offer)
    {
        if (_byName.TryGetValue(serves.Worker, out var slot))
        {
            if (serves.Epoch < slot.Epoch) return null;
        }
        else if (_goneEpochs.TryGetValue(serves.Worker, out var gone) && serves.Epoch < gone) return null;
        var added = slot is null;
        if (added)
        {
            slot = new WorkerSlot(serves.Worker, serves.Capabilities);
            _workers.Add(slot);
            _byName.Add(serves.Worker, slot);
        }
        slot!.Capabilities = serves.Capabilities;
        slot.Epoch = serves.Epoch;
        slot.Free = serves.Free;
        slot.Held = serves.Held;
        slot.Told = offer;
        slot.Offered = offer is not null && serves.Free > 0;
        return added;
    }

    /// <summary>A grant to honour: the worker serves the queue and the grant is of its newest incarnation. The
    /// grant answers any offer, and says the worker's room.</summary>
    public WorkerSlot? Granted(GrantSlots grant)
    {
        if (!_byName.TryGetValue(grant.Worker, out var slot) || grant.Epoch < slot.Epoch) return null;
        slot.Epoch = grant.Epoch;
        slot.Free = grant.Free;
        slot.Held = grant.Held;
        slot.Offered = false;
        return slot;
    }

    /// <summary>Whether a grant comes from an incarnation older than one heard: nobody waits for its answer.</summary>
    public bool IsStale(GrantSlots grant) =>
        (_byName.TryGetValue(grant.Worker, out var slot) ? slot.Epoch : _goneEpochs.GetValueOrDefault(grant.Worker)) > grant.Epoch;

    /// <summary>A worker said its room changed; false when it does not serve the queue.</summary>
    public bool RoomChanged(WorkerRoomChanged room)
    {
        if (!_byName.TryGetValue(room.Worker, out var slot)) return false;
        slot.Free = room.Free;
        slot.Held = room.Held;
        slot.Offered = false;
        return true;
    }

    /// <summary>The worker no longer serves the queue; its epoch is kept so its late grants are recognised.</summary>
    public void Remove(string worker)
    {
        if (!_byName.Remove(worker, out var slot)) return;
        _workers.Remove(slot);
        _goneEpochs[worker] = slot.Epoch;
    }

    /// <summary>
    /// Whom to tell what waits, after something changed. Workers with room are offered to least loaded first, and
    /// only until the room of those with an offer covers the waiting tasks: one task wakes one worker, not all of
    /// them. If that does not cover them, each worker without room is told what is most urgent here when it was
    /// told nothing or something less urgent, so that the next slot it frees can go to the most urgent task of all
    /// its queues.
    /// </summary>
    /// <param name="state">The queue.</param>
    /// <param name="arrived">The task that just arrived, when that is what changed: a full worker told of something at
    /// least as urgent needs no new look.</param>
    public List<(string Worker, TaskOffer? Offer)> Offers(QueueState state, QueuedTask? arrived = null)
    {
        var offers = new List<(string, TaskOffer?)>();
        var waiting = state.PendingCount;
        if (waiting == 0 || _workers.Count == 0) return offers;
        var covered = 0;
        foreach (var w in _workers)
            if (w.Offered) covered += w.Free;
        List<WorkerSlot>? unfit = null;
        while (covered < waiting && AllocationDecision.Choose(_workers, null) is { } target)
        {
            // Offered stays set until a grant, a room change or an announcement answers it.
            target.Offered = true;
            if (state.OfferFor(target.Capabilities) is not { } offer)
            {
                (unfit ??= []).Add(target); // nothing waiting here fits it: not offered, only passed over
                continue;
            }
            target.Told = offer;
            covered += Math.Min(target.Free, offer.Count);
            offers.Add((target.Name, offer));
        }
        if (unfit is not null)
            foreach (var w in unfit) w.Offered = false;
        if (covered >= waiting) return offers;
        foreach (var w in _workers)
        {
            if (w.Free > 0) continue;
            if (arrived is not null && w.Told is { } before && !MoreUrgent(arrived, before)) continue;
            if (state.OfferFor(w.Capabilities) is not { } offer) continue;
            if (w.Told is { } told && (told.Priority > offer.Priority ||
                                       (told.Priority == offer.Priority && told.ArrivedAt <= offer.ArrivedAt))) continue;
            w.Told = offer;
            offers.Add((w.Name, offer));
        }
        return offers;
    }

    private static bool MoreUrgent(QueuedTask task, TaskOffer than) =>
        task.Priority > than.Priority || (task.Priority == than.Priority && task.ArrivedAt < than.ArrivedAt);
}
