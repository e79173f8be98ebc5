using CeleryActors.Messages.Allocator;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// One worker's pool as its entity keeps it: the slot authority of the allocator. A slot is held (a task
/// allocated and not finished), promised (granted to a queue that has not answered yet), or free; only this class
/// hands out free slots (<see cref="Grants"/>), to the queue whose offer is the most urgent (priority, then the
/// oldest task), so the worker's unfinished tasks over all its queues never exceed its pool. Messages of the slot
/// protocol may be lost; a sync with each queue (<see cref="StartSync"/>, <see cref="Synced"/>) is a cut that sets
/// the held tasks and the promised slots of that queue to what they truly are. Plain and single-threaded.
/// </summary>
public sealed class WorkerPool
{
    private readonly Dictionary<string, Link> _links = new(StringComparer.Ordinal);
    private long _syncs;
    private int _unsynced; // links that have not answered a sync yet: asked on every grant, so counted, not scanned

    /// <summary>Creates a pool of <paramref name="size"/> slots for <paramref name="queues"/>.</summary>
    public WorkerPool(int size, IEnumerable<string> queues)
    {
        Size = size;
        SetQueues(queues);
    }

    /// <summary>The pool size (a re-registration may change it; held tasks stay).</summary>
    public int Size { get; set; }

    /// <summary>Unfinished tasks over all queues.</summary>
    public int Held { get; private set; }

    /// <summary>Slots granted to queues and not answered yet.</summary>
    public int Promised { get; private set; }

    /// <summary>Slots that may be granted now (negative after a shrink of the pool below what is held).</summary>
    public int Free => Size - Held - Promised;

    /// <summary>Whether every queue answered a sync since it was linked: before that the pool does not know what
    /// it holds, and grants nothing.</summary>
    public bool AllSynced => _unsynced == 0;

    /// <summary>The queues.</summary>
    public IEnumerable<string> Queues => _links.Keys;

    /// <summary>Links the pool to <paramref name="queues"/>: new ones start unsynced, dropped ones are forgotten
    /// with what the pool held there (their queues take those tasks back). Returns the dropped queues.</summary>
    public IReadOnlyList<string> SetQueues(IEnumerable<string> queues)
    {
        var wanted = queues.ToHashSet(StringComparer.Ordinal);
        var dropped = _links.Keys.Where(q => !wanted.Contains(q)).ToList();
        foreach (var queue in dropped) Unlink(queue);
        foreach (var queue in wanted)
            if (_links.TryAdd(queue, new Link())) _unsynced++;
        return dropped;
    }

    /// <summary>Forgets everything held and promised, and every sync: after the worker went offline or restarted,
    /// its queues take its tasks back, and what comes next is learned anew.</summary>
    public void Reset()
    {
        foreach (var queue in _links.Keys.ToList())
        {
            Unlink(queue);
            _links[queue] = new Link();
            _unsynced++;
        }
    }

    /// <summary>Whether the pool holds <paramref name="taskId"/> of <paramref name="queue"/>.</summary>
    public bool Holds(string queue, string taskId) => _links.TryGetValue(queue, out var l) && l.Held.ContainsKey(taskId);

    /// <summary>The queue of a held task, when the report did not say (the first queue holding that id).</summary>
    public string? QueueOf(string taskId)
    {
        foreach (var (queue, link) in _links)
            if (link.Held.ContainsKey(taskId)) return queue;
        return null;
    }

    /// <summary>A queue allocated a task on a granted slot (<see cref="TaskAssignedToWorker"/>). Returns false when
    /// the pool already knew it (a sync told first) or does not serve the queue.</summary>
    public bool Assigned(string queue, string taskId, TaskOffer? next, long nowMs)
    {
        if (!_links.TryGetValue(queue, out var link)) return false;
        if (next is not null) link.Offer = next;
        if (link.Held.ContainsKey(taskId)) return false;
        link.Held[taskId] = nowMs;
        Held++;
        if (link.Promised > 0)
        {
            link.Promised--;
            Promised--;
        }
        return true;
    }

    /// <summary>A queue returned <paramref name="count"/> granted slots it could not use.</summary>
    public void Returned(string queue, int count, TaskOffer? next)
    {
        if (!_links.TryGetValue(queue, out var link)) return;
        var back = Math.Min(count, link.Promised);
        link.Promised -= back;
        Promised -= back;
        link.Offer = next;
    }

    /// <summary>A queue said what waits there for this worker (null: nothing).</summary>
    public void Offered(string queue, TaskOffer? offer)
    {
        if (_links.TryGetValue(queue, out var link)) link.Offer = offer;
    }

    /// <summary>The task is no longer held (it finished, or its queue took it back): its slot is free.</summary>
    public bool Forget(string queue, string taskId)
    {
        if (!_links.TryGetValue(queue, out var link) || !link.Held.Remove(taskId)) return false;
        Held--;
        link.ForgottenSinceSync?.Add(taskId);
        return true;
    }

    /// <summary>Starts a sync with <paramref name="queue"/> and returns its stamp, unless one is under way and
    /// younger than <paramref name="patienceMs"/> (then null): a sync whose answer was lost is replaced.</summary>
    public long? StartSync(string queue, long nowMs, long patienceMs)
    {
        if (!_links.TryGetValue(queue, out var link)) return null;
        if (link.SyncStamp is not null && nowMs - link.SyncStartedMs < patienceMs) return null;
        link.SyncStamp = ++_syncs;
        link.SyncStartedMs = nowMs;
        link.GrantedAtSync = link.Granted;
        link.ForgottenSinceSync = new HashSet<string>(StringComparer.Ordinal);
        return link.SyncStamp;
    }

    /// <summary>
    /// A queue's answer to a sync: the tasks this worker held there when the queue took the sync, sent after
    /// everything the queue decided before it. Everything sent each way before the cut has arrived or is lost, so
    /// what the queue held then, less what this pool let go of since, is what it holds; and the slots promised
    /// there are exactly those granted after the sync started. An answer to an older sync is ignored.
    /// </summary>
    public bool Synced(string queue, long stamp, IReadOnlyList<string> held, TaskOffer? offer, long nowMs)
    {
        if (!_links.TryGetValue(queue, out var link) || link.SyncStamp != stamp) return false;
        var truth = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var id in held)
            if (!link.ForgottenSinceSync!.Contains(id))
                truth[id] = link.Held.TryGetValue(id, out var since) ? since : nowMs;
        Held += truth.Count - link.Held.Count;
        link.Held = truth;
        var promised = (int)(link.Granted - link.GrantedAtSync);
        Promised += promised - link.Promised;
        link.Promised = promised;
        link.Offer = offer;
        if (!link.Synced) _unsynced--;
        link.Synced = true;
        link.SyncStamp = null;
        link.ForgottenSinceSync = null;
        return true;
    }

    /// <summary>
    /// Hands out free slots: while there are some, to the queue with the most urgent offer (priority, then the
    /// oldest task), as many as that queue has tasks waiting for this worker. Each offer is used up by its grant;
    /// the queue's answer says what waits next. Nothing before every queue answered its first sync.
    /// </summary>
    public List<(string Queue, int Count)> Grants()
    {
        var grants = new List<(string, int)>();
        if (!AllSynced) return grants;
        while (Free > 0)
        {
            string? best = null;
            TaskOffer? bestOffer = null;
            foreach (var (queue, link) in _links)
            {
                if (link.Offer is not { } offer) continue;
                if (bestOffer is null || offer.Priority > bestOffer.Priority ||
                    (offer.Priority == bestOffer.Priority && offer.ArrivedAt < bestOffer.ArrivedAt))
                    (best, bestOffer) = (queue, offer);
            }
            if (best is null) break;
            var link2 = _links[best];
            var count = Math.Max(1, Math.Min(Free, bestOffer!.Count));
            link2.Offer = null;
            link2.Promised += count;
            link2.Granted += count;
            Promised += count;
            grants.Add((best, count));
        }
        return grants;
    }

    /// <summary>Whether <paramref name="queue"/> has told of tasks waiting that no grant has used yet.</summary>
    public bool HasOffer(string queue) => _links.TryGetValue(queue, out var l) && l.Offer is not null;

    /// <summary>Whether the queue last heard from this worker that it had no room (set by the caller with every
    /// message that carries the free count, see <see cref="Told"/>).</summary>
    public bool ToldFull(string queue) => _links.TryGetValue(queue, out var l) && l.ToldFull;

    /// <summary>Notes the free count the worker just sent to <paramref name="queue"/>.</summary>
    public void Told(string queue, int free)
    {
        if (_links.TryGetValue(queue, out var link)) link.ToldFull = free <= 0;
    }

    /// <summary>Held tasks allocated (learned) longer than <paramref name="ackTimeoutMs"/> ago that
    /// <paramref name="running"/> does not list: the worker does not have them.</summary>
    public List<(string Queue, string TaskId)> NotRunning(IReadOnlyCollection<string> running, long nowMs, long ackTimeoutMs)
    {
        var listed = running as IReadOnlySet<string> ?? running.ToHashSet(StringComparer.Ordinal);
        var gone = new List<(string, string)>();
        foreach (var (queue, link) in _links)
            foreach (var (id, since) in link.Held)
                if (nowMs - since > ackTimeoutMs && !listed.Contains(id)) gone.Add((queue, id));
        return gone;
    }

    /// <summary>Every held task, with its queue.</summary>
    public IEnumerable<(string Queue, string TaskId)> AllHeld() =>
        _links.SelectMany(l => l.Value.Held.Keys.Select(id => (l.Key, id)));

    private void Unlink(string queue)
    {
        if (!_links.Remove(queue, out var link)) return;
        if (!link.Synced) _unsynced--;
        Held -= link.Held.Count;
        Promised -= link.Promised;
    }

    private sealed class Link
    {
        public Dictionary<string, long> Held = new(StringComparer.Ordinal); // task id -> when learned (ms)
        public int Promised;
        public long Granted;
        public TaskOffer? Offer;
        public bool Synced;
        public bool ToldFull;
        public long? SyncStamp;
        public long SyncStartedMs;
        public long GrantedAtSync;
        public HashSet<string>? ForgottenSinceSync;
    }
}
