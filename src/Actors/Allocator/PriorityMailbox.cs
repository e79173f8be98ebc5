namespace CeleryActors.Actors.Allocator;

/// <summary>
/// The pending tasks of one queue (SPEC §4): highest priority (9) first, first-in first-out within a priority
/// by arrival sequence. A requeued task keeps its arrival sequence, so it goes back ahead of every newer task
/// of its priority. Not thread-safe: one owner.
/// </summary>
/// <typeparam name="T">The task type.</typeparam>
public sealed class PriorityMailbox<T> where T : class
{
    /// <summary>Number of priority levels, 0 to 9.</summary>
    public const int Levels = 10;

    // One list per priority, ordered by sequence. Fresh tasks append at the end in O(1); a requeued task is
    // old, so the walk from the front that places it is short.
    private readonly LinkedList<Entry>[] _levels = Enumerable.Range(0, Levels).Select(_ => new LinkedList<Entry>()).ToArray();
    private readonly Dictionary<string, LinkedListNode<Entry>> _byId = new(StringComparer.Ordinal);

    /// <summary>Tasks waiting.</summary>
    public int Count => _byId.Count;

    /// <summary>Whether <paramref name="id"/> is waiting.</summary>
    public bool Contains(string id) => _byId.ContainsKey(id);

    /// <summary>The waiting task with <paramref name="id"/>, if any.</summary>
    public bool TryGet(string id, out T? item)
    {
        var found = _byId.TryGetValue(id, out var node);
        item = found ? node!.Value.Item : null;
        return found;
    }

    /// <summary>Tasks waiting at <paramref name="priority"/>.</summary>
    public int CountAt(int priority) => _levels[priority].Count;

    /// <summary>Adds a task. Sequences must grow with arrival; a lower one than those waiting (a requeue) is
    /// placed by its sequence.</summary>
    public void Enqueue(string id, int priority, long sequence, T item)
    {
        var level = _levels[priority];
        var entry = new Entry(id, sequence, item);
        LinkedListNode<Entry> node;
        if (level.Last is null || level.Last.Value.Sequence < sequence)
        {
            node = level.AddLast(entry);
        }
        else
        {
            var after = level.First!;
            while (after.Value.Sequence < sequence) after = after.Next!;
            node = level.AddBefore(after, entry);
        }
        _byId.Add(id, node);
    }

    /// <summary>Takes the first task, in priority order, that <paramref name="accept"/> takes; tasks it
    /// refuses stay where they are. At most <paramref name="maxRefusals"/> refusals are tried, which bounds
    /// the cost of a pass when many tasks wait for a capability nobody has.</summary>
    public T? TakeFirst(Func<T, bool> accept, int maxRefusals = int.MaxValue)
    {
        var refusals = 0;
        for (var p = Levels - 1; p >= 0; p--)
        {
            for (var node = _levels[p].First; node is not null; node = node.Next)
            {
                if (accept(node.Value.Item))
                {
                    _levels[p].Remove(node);
                    _byId.Remove(node.Value.Id);
                    return node.Value.Item;
                }
                if (++refusals >= maxRefusals) return null;
            }
        }
        return null;
    }

    /// <summary>Takes the first task in priority order, or null.</summary>
    public T? Dequeue() => TakeFirst(static _ => true);

    /// <summary>The first task in priority order without taking it, or null.</summary>
    public T? Peek()
    {
        for (var p = Levels - 1; p >= 0; p--)
            if (_levels[p].First is { } first) return first.Value.Item;
        return null;
    }

    /// <summary>Removes a task by id; false when it was not waiting.</summary>
    public bool Remove(string id)
    {
        if (!_byId.Remove(id, out var node)) return false;
        node.List!.Remove(node);
        return true;
    }

    /// <summary>Every waiting task in the order they would come out.</summary>
    public IEnumerable<T> InOrder()
    {
        for (var p = Levels - 1; p >= 0; p--)
            foreach (var entry in _levels[p]) yield return entry.Item;
    }

    private readonly record struct Entry(string Id, long Sequence, T Item);
}
