using System.Globalization;

namespace CeleryActors.Persistence.Redis.Internal;

/// <summary>
/// Snapshot timestamps are stored as UTC ticks written with 19 zero-padded digits: Lua numbers are doubles and
/// lose ticks beyond 2^53, but equal-length digit strings compare correctly as text.
/// </summary>
internal static class SnapshotTimestamp
{
    public static string Encode(DateTime timestamp) =>
        ToUtc(timestamp).Ticks.ToString("D19", CultureInfo.InvariantCulture);

    public static DateTime Decode(string text) =>
        new(long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture), DateTimeKind.Utc);

    /// <summary>A local time becomes UTC; an unspecified one is taken as UTC already (as Akka's scheduler gives it).</summary>
    public static DateTime ToUtc(DateTime timestamp) => timestamp.Kind switch
    {
        DateTimeKind.Local => timestamp.ToUniversalTime(),
        DateTimeKind.Unspecified => DateTime.SpecifyKind(timestamp, DateTimeKind.Utc),
        _ => timestamp,
    };
}
