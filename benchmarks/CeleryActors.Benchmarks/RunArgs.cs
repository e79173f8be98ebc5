using System.Globalization;

namespace CeleryActors.Benchmarks;

/// <summary>The command-line options the load runs share.</summary>
public static class RunArgs
{
    /// <summary>Reads <c>--name value</c> from the arguments.</summary>
    public static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Reads <c>--name N</c> from the arguments.</summary>
    public static int IntArg(string[] args, string name, int fallback) =>
        Arg(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    /// <summary>Every <c>--node-env NAME=VALUE</c> of the arguments: environment variables for the node processes only
    /// (runtime knobs such as <c>DOTNET_TieredPGO=0</c>, compared without touching the load process).</summary>
    public static IEnumerable<KeyValuePair<string, string>> NodeEnvironment(string[] args)
    {
        for (var i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] != "--node-env") continue;
            var pair = args[i + 1];
            var equals = pair.IndexOf('=');
            if (equals < 1) throw new ArgumentException($"--node-env {pair}: NAME=VALUE");
            yield return new(pair[..equals], pair[(equals + 1)..]);
        }
    }

    /// <summary><c>--intake pubsub|stream</c>: whether the producer XADDs to the task streams (true) or publishes.</summary>
    public static bool StreamedIntake(string[] args) => Arg(args, "--intake") switch
    {
        null or "pubsub" => false,
        "stream" => true,
        var other => throw new ArgumentException($"--intake {other}: pubsub or stream"),
    };
}
