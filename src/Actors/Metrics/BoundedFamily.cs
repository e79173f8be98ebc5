using System.Collections.Concurrent;
using Prometheus;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// A metric family with a cap on its series. A cap per label is not enough: three labels of 2,000 values each
/// make 8·10⁹ possible series. Series are counted as Prometheus counts them: a histogram's label set is one
/// series per bucket plus <c>_sum</c> and <c>_count</c>. Past the cap a new label set is recorded in the one
/// whose every label is <see cref="LabelLimiter.OverflowValue"/>, and counted. Label sets already there stay; a
/// removed one frees its place. Thread-safe. The children are cached here, so a known label set costs one
/// lookup, as it did in prometheus-net alone.
/// </summary>
/// <typeparam name="TChild">The family's child type (<see cref="Counter.Child"/>, ...).</typeparam>
public sealed class BoundedFamily<TChild> : IBoundedFamily where TChild : ChildBase
{
    private readonly Collector<TChild> _family;
    private readonly ConcurrentDictionary<string[], TChild> _series = new(LabelSetComparer.Instance);
    private readonly int _capacity;
    private readonly Action<string> _onOverflow;
    private readonly string[] _overflow;
    private readonly int _seriesPerChild;
    private int _count;

    /// <summary>Wraps <paramref name="family"/>.</summary>
    /// <param name="family">The prometheus-net family; only this wrapper may create or remove its series.</param>
    /// <param name="capacity">Series kept before new label sets go to the overflow series; at least 1.</param>
    /// <param name="onOverflow">Called with the family's name each time a label set goes to the overflow series.</param>
    /// <param name="seriesPerChild">Series one label set exports: 1, or a histogram's buckets (with +Inf) plus 2.</param>
    public BoundedFamily(Collector<TChild> family, int capacity, Action<string> onOverflow, int seriesPerChild = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seriesPerChild, 1);
        _family = family;
        _seriesPerChild = seriesPerChild;
        _capacity = Math.Max(1, capacity / seriesPerChild);
        _onOverflow = onOverflow;
        _overflow = Enumerable.Repeat(LabelLimiter.OverflowValue, family.LabelNames.Length).ToArray();
    }

    /// <inheritdoc />
    public string Name => _family.Name;

    /// <summary>The family's label names, in order.</summary>
    public string[] LabelNames => _family.LabelNames;

    /// <inheritdoc />
    public int Count => Volatile.Read(ref _count) * _seriesPerChild;

    /// <summary>The series of <paramref name="labels"/>, or the overflow series when the family is full.</summary>
    public TChild WithLabels(params string[] labels)
    {
        if (_series.TryGetValue(labels, out var child)) return child;
        if (Interlocked.Increment(ref _count) <= _capacity)
        {
            var key = (string[])labels.Clone(); // the caller may reuse its array
            // prometheus-net's WithLabels is get-or-create, so two threads adding the same set get the same child.
            child = _family.WithLabels(key);
            if (!_series.TryAdd(key, child)) Interlocked.Decrement(ref _count); // the other thread holds the place
            return child;
        }
        Interlocked.Decrement(ref _count);
        _onOverflow(_family.Name);
        // The overflow series may take the family one past its cap: one line, so that nothing is lost.
        return _series.GetOrAdd(_overflow, k =>
        {
            Interlocked.Increment(ref _count);
            return _family.WithLabels(k);
        });
    }

    /// <summary>Removes the series of <paramref name="labels"/>, if there is one.</summary>
    public void RemoveLabelled(params string[] labels)
    {
        if (!_series.TryRemove(labels, out _)) return;
        _family.RemoveLabelled(labels);
        Interlocked.Decrement(ref _count);
    }

    /// <inheritdoc />
    public int RemoveWhere(string label, IReadOnlySet<string> values)
    {
        var index = Array.IndexOf(_family.LabelNames, label);
        if (index < 0 || values.Count == 0) return 0;
        var removed = 0;
        foreach (var key in _series.Keys)
            if (values.Contains(key[index]) && _series.TryRemove(key, out _))
            {
                _family.RemoveLabelled(key);
                Interlocked.Decrement(ref _count);
                removed++;
            }
        return removed;
    }

    private sealed class LabelSetComparer : IEqualityComparer<string[]>
    {
        public static readonly LabelSetComparer Instance = new();

        public bool Equals(string[]? x, string[]? y)
        {
            if (ReferenceEquals(x, y)) return true;
            if (x is null || y is null || x.Length != y.Length) return false;
            for (var i = 0; i < x.Length; i++)
                if (!string.Equals(x[i], y[i], StringComparison.Ordinal)) return false;
            return true;
        }

        public int GetHashCode(string[] labels)
        {
            var hash = new HashCode();
            foreach (var label in labels) hash.Add(label, StringComparer.Ordinal);
            return hash.ToHashCode();
        }
    }
}

/// <summary>What the owner of several <see cref="BoundedFamily{TChild}"/> of different kinds needs of each.</summary>
public interface IBoundedFamily
{
    /// <summary>The family's name.</summary>
    string Name { get; }

    /// <summary>How many series the family exports now (the overflow's included, once it exists).</summary>
    int Count { get; }

    /// <summary>Removes every series whose label <paramref name="label"/> holds one of <paramref name="values"/>;
    /// returns how many. A family without that label is left alone.</summary>
    int RemoveWhere(string label, IReadOnlySet<string> values);
}
