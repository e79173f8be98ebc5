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

    /// <summary><c>--intake pubsub|stream</c>: whether the producer XADDs to the task streams (true) or publishes.</summary>
    public static bool StreamedIntake(string[] args) => Arg(args, "--intake") switch
    {
        null or "pubsub" => false,
        "stream" => true,
        var other => throw new ArgumentException($"--intake {other}: pubsub or stream"),
    };
}
