using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// Finds the separator kombu uses on a broker (its <c>sep</c> transport option, <c>\x06\x16</c> by default, often
/// set to <c>:</c> with priority queues): binding members and priority sub-lists both use it, and a monitor that
/// assumes the wrong one counts no priority task at all. Read off the bindings the workers wrote.
/// </summary>
public static class KombuSeparator
{
    /// <summary>
    /// From task-queue bindings: kombu writes <c>{routing_key}{sep}{pattern}{sep}{queue}</c>, and Celery's default
    /// routing makes routing key, queue and exchange one name with an empty pattern: <c>{name}{sep}{sep}{name}</c>.
    /// </summary>
    public static string? FromQueueBindings(IEnumerable<(string Exchange, string Member)> members)
    {
        foreach (var (exchange, member) in members)
        {
            if (exchange.Length == 0 || member.Length <= 2 * exchange.Length) continue;
            if (!member.StartsWith(exchange, StringComparison.Ordinal) || !member.EndsWith(exchange, StringComparison.Ordinal))
                continue;
            if (Halves(member[exchange.Length..^exchange.Length]) is { } sep) return sep;
        }
        return null;
    }

    /// <summary>
    /// From the workers' remote-control bindings (<c>_kombu.binding.celery.pidbox</c>): a fanout binding has an
    /// empty routing key and pattern, so every member is <c>{sep}{sep}{worker}.celery.pidbox</c>.
    /// </summary>
    public static string? FromPidboxBindings(IEnumerable<string> members)
    {
        foreach (var member in members)
        {
            for (var length = 1; length <= 4 && 2 * length < member.Length; length++)
            {
                var candidate = member[..length];
                if (char.IsLetterOrDigit(candidate[^1]) || member[length..(2 * length)] != candidate) continue;
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Reads the separator off the broker's bindings, or null when no worker has bound anything yet.</summary>
    public static async Task<string?> DetectAsync(IDatabase db, CeleryMonitorSettings settings)
    {
        var pidbox = await db.SetMembersAsync(settings.BindingKey("celery.pidbox")).ConfigureAwait(false);
        return FromPidboxBindings(pidbox.Select(m => m.ToString()));
    }

    private static string? Halves(string middle) =>
        middle.Length > 0 && middle.Length % 2 == 0 && middle[..(middle.Length / 2)] == middle[(middle.Length / 2)..]
            ? middle[..(middle.Length / 2)]
            : null;
}
