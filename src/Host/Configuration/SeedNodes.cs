using Akka.Actor;
using CeleryActors.Actors.Hosting;

namespace CeleryActors.Host.Configuration;

/// <summary>Parses <c>CLUSTER_SEEDS</c>: comma-separated <c>HOST:PORT</c> entries or full Akka addresses.</summary>
public static class SeedNodes
{
    /// <summary>Parses <paramref name="text"/> into Akka addresses, or says what is wrong.</summary>
    public static bool TryParse(string? text, out IReadOnlyList<string> seeds, out string? error)
    {
        var list = new List<string>();
        seeds = list;
        error = null;
        foreach (var raw in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.Contains("://"))
            {
                if (!ActorPath.TryParseAddress(raw, out var address) || address.Port is null)
                {
                    error = $"'{raw}' is not an Akka address such as akka.tcp://{CeleryActorsHostingExtensions.ActorSystemName}@host:4053";
                    return false;
                }
                if (address.System != CeleryActorsHostingExtensions.ActorSystemName)
                {
                    error = $"'{raw}' names actor system '{address.System}'; nodes run '{CeleryActorsHostingExtensions.ActorSystemName}'";
                    return false;
                }
                list.Add(address.ToString());
                continue;
            }
            var colon = raw.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(raw[(colon + 1)..], out var port) || port is < 1 or > 65535)
            {
                error = $"'{raw}' is neither HOST:PORT (port 1-65535) nor an Akka address";
                return false;
            }
            list.Add($"akka.tcp://{CeleryActorsHostingExtensions.ActorSystemName}@{raw[..colon]}:{port}");
        }
        return true;
    }
}
