namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Plausibility bounds on numbers from outside that end in histograms and counters: a finite but absurd value
/// (a duration of 1e308 s, a count of 1e19) would make a histogram's sum infinite, or a counter jump, for good.
/// Each check returns the rejection detail, or null when the value is fine.
/// </summary>
public static class WireLimits
{
    /// <summary>The longest duration taken as a measurement: 30 days.</summary>
    public const double MaxSeconds = 30 * 24 * 3600;

    /// <summary>How far ahead of this node's clock a <c>published_at</c> may be: a day (clocks differ, not by that).</summary>
    public const double MaxFutureSeconds = 24 * 3600;

    /// <summary>The largest count taken: beyond 2^53 a double no longer holds every whole number.</summary>
    public const double MaxCount = 9_007_199_254_740_992;

    /// <summary>A duration in seconds (duration, runtime, latency): finite, from 0 to 30 days.</summary>
    public static string? Duration(string field, double seconds) =>
        !double.IsFinite(seconds) ? $"{field} is not a finite number"
        : seconds < 0 ? $"{field} is negative"
        : seconds > MaxSeconds ? $"{field} is more than 30 days"
        : null;

    /// <summary>A publication time in Unix seconds: finite, not more than a day ahead of <paramref name="now"/>,
    /// nor more than 30 days behind it.</summary>
    public static string? PublishedAt(double unixSeconds, double now) =>
        !double.IsFinite(unixSeconds) ? "published_at is not a finite number"
        : unixSeconds > now + MaxFutureSeconds ? "published_at is more than a day from now"
        : unixSeconds < now - MaxSeconds ? "published_at is more than 30 days ago"
        : null;

    /// <summary><see cref="MaxCount"/> as a whole number, for counts read as integers: compared as doubles, 2^53 + 1
    /// would pass, since it becomes 2^53.</summary>
    public const long MaxWholeCount = 1L << 53;

    /// <summary>A count (tasks processed, active): a whole number from 0 to 2^53.</summary>
    public static string? Count(string field, double value) =>
        value < 0 ? $"{field} is negative"
        : value > MaxCount ? $"{field} is too large"
        : Math.Floor(value) != value ? $"{field} is not a whole number"
        : null;

    /// <summary>Now, as Unix seconds with fractions.</summary>
    public static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
}
