using System.Collections.Concurrent;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// Bounds the number of distinct values one label may take. Label values come from outside (task names,
/// queues, exception types), so without a cap a flood of random names would grow the registry, and the node's
/// memory, without bound. Past the cap every new value is folded into <see cref="OverflowValue"/> and counted.
/// Thread-safe; values already admitted stay admitted.
/// </summary>
public sealed class LabelLimiter
{
    /// <summary>The value that stands for every value past the cap.</summary>
    public const string OverflowValue = "__overflow__";

    private readonly ConcurrentDictionary<string, byte> _admitted;
    private readonly int _capacity;
    private readonly Action<string>? _onOverflow;
    private int _count;

    /// <summary>Creates a limiter.</summary>
    /// <param name="label">The label's name, passed to <paramref name="onOverflow"/>.</param>
    /// <param name="capacity">How many distinct values are kept; at least 1.</param>
    /// <param name="onOverflow">Called with the label name each time a value is folded.</param>
    public LabelLimiter(string label, int capacity, Action<string>? onOverflow = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Label = label;
        _capacity = capacity;
        _onOverflow = onOverflow;
        _admitted = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
    }

    /// <summary>The label this limiter guards.</summary>
    public string Label { get; }

    /// <summary>How many distinct values are admitted now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Returns <paramref name="value"/> if it is, or can be, admitted; otherwise the overflow value.</summary>
    public string Admit(string value)
    {
        if (_admitted.ContainsKey(value)) return value;
        // Reserve a slot before adding so concurrent callers never push the count past the cap.
        if (Interlocked.Increment(ref _count) <= _capacity)
        {
            if (_admitted.TryAdd(value, 0)) return value;
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
}
