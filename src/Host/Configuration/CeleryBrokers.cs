using System.Text.RegularExpressions;
using CeleryActors.Redis;

namespace CeleryActors.Host.Configuration;

/// <summary>Parses <c>CELERY_BROKERS</c>: comma-separated <c>name=url</c> entries, one per broker to monitor.</summary>
public static partial class CeleryBrokers
{
    /// <summary>A name is the value of the <c>broker</c> label and part of an actor's name: keep it plain.</summary>
    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex NamePattern();

    /// <summary>Parses <paramref name="text"/> into named broker URLs, in the order given, or says what is wrong.</summary>
    public static bool TryParse(string? text, out IReadOnlyList<(string Name, RedisUrl Url)> brokers, out string? error)
    {
        var list = new List<(string Name, RedisUrl Url)>();
        brokers = list;
        error = null;
        foreach (var raw in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = raw.IndexOf('=');
            var name = equals < 0 ? "" : raw[..equals].Trim();
            if (equals < 0 || !NamePattern().IsMatch(name))
            {
                error = $"'{Redacted(raw)}' is not name=url with a name of 1-64 letters, digits, '_', '.' or '-'";
                return false;
            }
            if (!RedisUrl.TryParse(raw[(equals + 1)..].Trim(), out var url, out var urlError))
            {
                error = $"broker '{name}': {urlError}";
                return false;
            }
            if (list.Any(b => b.Name == name))
            {
                error = $"broker name '{name}' is given twice";
                return false;
            }
            list.Add((name, url!));
        }
        return true;
    }

    // The entry may hold a password: show only what precedes the URL's scheme.
    private static string Redacted(string entry)
    {
        var scheme = entry.IndexOf("://", StringComparison.Ordinal);
        return scheme < 0 ? entry : entry[..scheme] + "://…";
    }
}
