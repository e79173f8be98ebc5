using System.Collections.Concurrent;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// Bounds the number of distinct values one label may take. Label values come from outside (task names,
/// queues, exception types), so without a cap a flood of random names would grow the registry, and the node's
/// memory, without bound. Past the cap every new value is folded into <see cref="OverflowValue"/> and counted.
/// A value not seen for a while can be freed (<see cref="TakeIdle"/>), so a flood passes and the names that are
/// really used come back under their own name. Thread-safe.
/// </summary>
public sealed class LabelLimiter
{
    /// <summary>The value that stands for every value past the cap.</summary>
    public const string OverflowValue = "__overflow__";

    private readonly ConcurrentDictionary<string, LastSeen> _admitted;
    private readonly int _capacity;
    private readonly Action<string>? _onOverflow;
    private readonly Func<long> _clock;
    private int _count;

    /// <summary>Creates a limiter.</summary>
    /// <param name="label">The label's name, passed to <paramref name="onOverflow"/>.</param>
    /// <param name="capacity">How many distinct values are kept; at least 1.</param>
    /// <param name="onOverflow">Called with the label name each time a value is folded.</param>
    /// <param name="clock">Milliseconds of a monotonic clock; <see cref="Environment.TickCount64"/> by default.</param>
    public LabelLimiter(string label, int capacity, Action<string>? onOverflow = null, Func<long>? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Label = label;
        _capacity = capacity;
        _onOverflow = onOverflow;
        _clock = clock ?? (() => Environment.TickCount64);
        _admitted = new ConcurrentDictionary<string, LastSeen>(StringComparer.Ordinal);
    }

    /// <summary>The label this limiter guards.</summary>
    public string Label { get; }

    /// <summary>How many distinct values are admitted now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Returns <paramref name="value"/> if it is, or can be, admitted; otherwise the overflow value. Either
    /// way the value counts as seen now.</summary>
    public string Admit(string value)
    {
        var now = _clock();
        if (_admitted.TryGetValue(value, out var seen))
        {
            seen.Touch(now);
            return value;
        }
        // Reserve a slot before adding so concurrent callers never push the count past the cap.
        if (Interlocked.Increment(ref _count) <= _capacity)
        {
            if (!_admitted.TryAdd(value, new LastSeen(now)))
                Interlocked.Decrement(ref _count); // another thread admitted the same value first
            return value;
        }
        Interlocked.Decrement(ref _count);
        _onOverflow?.Invoke(Label);
        return OverflowValue;
    }

    /// <summary>Frees the slot of a value whose series were removed (e.g. a worker gone for good).</summary>
    public void Release(string value)
    {
        if (_admitted.TryRemove(value, out _)) Interlocked.Decrement(ref _count);
    }

    /// <summary>
    /// Frees every value not seen for <paramref name="idleFor"/> and returns them, so their series can be
    /// removed. A value admitted again while it is being freed simply takes a new slot.
    /// </summary>
    public IReadOnlyList<string> TakeIdle(TimeSpan idleFor)
    {
        var cutoff = _clock() - (long)idleFor.TotalMilliseconds;
        var freed = new List<string>();
        foreach (var (value, seen) in _admitted)
            if (seen.Before(cutoff) && _admitted.TryRemove(new KeyValuePair<string, LastSeen>(value, seen)))
            {
                Interlocked.Decrement(ref _count);
                freed.Add(value);
            }
        return freed;
    }

    // A mutable cell, so that seeing a value again writes one long instead of replacing a dictionary node.
    private sealed class LastSeen(long at)
    {
        private long _at = at;

        public void Touch(long now) => Volatile.Write(ref _at, now);

        public bool Before(long cutoff) => Volatile.Read(ref _at) < cutoff;
    }
}
