namespace CeleryActors.Actors.Metrics;

/// <summary>
/// The values of the <c>source</c> label (SPEC §3). The worker and queue gauges are written by two features that
/// share no state: the Celery monitor and the allocator (with the metrics channel's queue lengths). A Celery worker
/// and an allocator worker may have the same name, so each series says which one wrote it and neither overwrites,
/// nor removes, the other's.
/// </summary>
public static class SeriesSource
{
    /// <summary>The label's name.</summary>
    public const string Label = "source";

    /// <summary>Series the Celery monitor writes from a broker's events, queues and remote control.</summary>
    public const string Celery = "celery";

    /// <summary>Series the allocator's entities write, and queue lengths reported on the metrics channel.</summary>
    public const string Allocator = "allocator";
}
