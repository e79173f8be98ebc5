using Prometheus;

namespace CeleryActors.Actors.Metrics;

/// <summary>
/// The caps that keep a node's metrics bounded whatever arrives: one <see cref="LabelLimiter"/> per label whose
/// values come from outside, a series cap per family (<see cref="BoundedFamily{TChild}"/>), and the expiry of label
/// values not seen for a while, with their series. It owns the three families that report on the caps themselves.
/// Thread-safe where the limiters and families are.
/// </summary>
public sealed class MetricCaps
{
    /// <summary>The labels whose values come from outside, each under its own cap.</summary>
    public static readonly string[] CappedLabels = ["task_name", "queue", "exception", "worker", "channel", "message_type"];

    private readonly Dictionary<string, LabelLimiter> _limiters = new(StringComparer.Ordinal);
    private readonly List<IBoundedFamily> _bounded = [];
    private readonly int _maxSeries;

    /// <summary>Creates the caps and their families with <paramref name="factory"/>.</summary>
    /// <param name="factory">The factory of the node's registry.</param>
    /// <param name="maxLabelValues">Distinct values kept per label before new ones fold into the overflow value.</param>
    /// <param name="maxSeries">Series kept per family before new label sets go to the family's overflow series.</param>
    /// <param name="clock">Milliseconds of a monotonic clock, for when a label value was last seen.</param>
    public MetricCaps(MetricFactory factory, int maxLabelValues, int maxSeries, Func<long>? clock)
    {
        _maxSeries = maxSeries;
        LabelOverflows = factory.CreateCounter("celery_label_values_overflowed_total",
            "Label values folded into the overflow value because the label reached its cap.",
            new CounterConfiguration { LabelNames = ["label"] });
        SeriesOverflows = factory.CreateCounter("celery_metric_series_overflowed_total",
            "Observations recorded in a family's overflow series because the family reached its series cap.",
            new CounterConfiguration { LabelNames = ["metric"] });
        SeriesCount = factory.CreateGauge("celery_metric_series",
            "Series a metric family whose labels come from outside holds now (its cap is METRICS_MAX_SERIES).",
            new GaugeConfiguration { LabelNames = ["metric"] });
        foreach (var label in CappedLabels)
            _limiters[label] = new LabelLimiter(label, maxLabelValues, l => LabelOverflows.WithLabels(l).Inc(), clock);
    }

    /// <summary><c>celery_label_values_overflowed_total{label}</c>.</summary>
    public Counter LabelOverflows { get; }

    /// <summary><c>celery_metric_series_overflowed_total{metric}</c>.</summary>
    public Counter SeriesOverflows { get; }

    /// <summary><c>celery_metric_series{metric}</c>, set before each collection.</summary>
    public Gauge SeriesCount { get; }

    /// <summary>Passes <paramref name="value"/> through the cap of <paramref name="label"/>.</summary>
    public string Admit(string label, string value) => _limiters[label].Admit(value);

    /// <summary>Frees the slot of <paramref name="value"/> under the cap of <paramref name="label"/>.</summary>
    public void Release(string label, string value) => _limiters[label].Release(value);

    /// <summary>Puts <paramref name="family"/> under the series cap and the label expiry.</summary>
    /// <param name="family">The family.</param>
    /// <param name="seriesPerChild">Series one label set exports: a histogram's buckets, +Inf, _sum and _count.</param>
    public BoundedFamily<TChild> Bound<TChild>(Collector<TChild> family, int seriesPerChild = 1) where TChild : ChildBase
    {
        var bounded = new BoundedFamily<TChild>(family, _maxSeries, f => SeriesOverflows.WithLabels(f).Inc(), seriesPerChild);
        lock (_bounded) _bounded.Add(bounded);
        return bounded;
    }

    /// <summary>
    /// Frees every label value not seen for <paramref name="idleFor"/> and removes the series that carry one, in
    /// every family: after a flood of junk names the real ones get their slots back.
    /// </summary>
    /// <returns>How many label values were freed and how many series removed.</returns>
    public (int Values, int Series) ExpireIdleLabels(TimeSpan idleFor)
    {
        var freed = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var values = 0;
        foreach (var limiter in _limiters.Values)
        {
            var idle = limiter.TakeIdle(idleFor);
            if (idle.Count == 0) continue;
            freed[limiter.Label] = new HashSet<string>(idle, StringComparer.Ordinal);
            values += idle.Count;
        }
        var series = 0;
        foreach (var family in Families())
            foreach (var (label, set) in freed)
                series += family.RemoveWhere(label, set);
        return (values, series);
    }

    /// <summary>Sets <c>celery_metric_series</c> from the families' own counts.</summary>
    public void UpdateSeriesCounts()
    {
        foreach (var family in Families()) SeriesCount.WithLabels(family.Name).Set(family.Count);
    }

    private IBoundedFamily[] Families()
    {
        lock (_bounded) return _bounded.ToArray();
    }
}
