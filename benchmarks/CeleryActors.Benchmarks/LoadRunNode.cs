using System.Diagnostics;
using System.Globalization;
using CeleryActors.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// A host node process for load runs (the built CeleryActors.Host), with the helpers every load run needs:
/// readiness, reading counters off /metrics, sampling resident memory, and the machine's description.
/// </summary>
public sealed class LoadRunNode : IDisposable
{
    private readonly Process _process;
    private readonly List<(double Seconds, long RssKiB)> _memory = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _sampling = new();
    private Task? _sampler;

    private LoadRunNode(Process process, int port)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    /// <summary>A client for the node's HTTP endpoints.</summary>
    public HttpClient Http { get; }

    /// <summary>The node's process id (for its CPU accounting).</summary>
    public int ProcessId => _process.Id;

    /// <summary>Starts a node on <paramref name="redis"/> with extra settings and waits until it is ready.</summary>
    public static async Task<LoadRunNode> StartAsync(string? hostDll, RedisServerProcess redis,
        IDictionary<string, string>? settings = null)
    {
        var port = FreePort.Find();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(hostDll ?? FindHostDll());
        info.Environment["REDIS_URL"] = redis.Url.ToString();
        info.Environment["METRICS_HOST"] = "127.0.0.1";
        info.Environment["METRICS_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        info.Environment["CLUSTER_HOSTNAME"] = "127.0.0.1";
        info.Environment["CLUSTER_PORT"] = "0";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (k, v) in settings ?? new Dictionary<string, string>()) info.Environment[k] = v;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("node: " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var node = new LoadRunNode(process, port);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((await node.Http.GetAsync("/health/ready")).IsSuccessStatusCode) return node;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        node.Dispose();
        throw new InvalidOperationException("the host node did not become ready");
    }

    /// <summary>Samples the node's resident memory every half second until <see cref="StopSamplingAsync"/>.</summary>
    public void StartSampling() => _sampler = Task.Run(async () =>
    {
        while (!_sampling.IsCancellationRequested)
        {
            _memory.Add((_clock.Elapsed.TotalSeconds, Rss()));
            try { await Task.Delay(500, _sampling.Token); } catch (OperationCanceledException) { }
        }
    });

    /// <summary>Stops sampling and describes the samples (MiB over time).</summary>
    public async Task<string> StopSamplingAsync()
    {
        _sampling.Cancel();
        if (_sampler is not null) await _sampler;
        return string.Join(", ", _memory
            .Where((_, i) => i % Math.Max(1, _memory.Count / 12) == 0 || i == _memory.Count - 1)
            .Select(m => $"{m.Seconds:F0}s={m.RssKiB / 1024.0:F0}"));
    }

    /// <summary>The sum over every sample line of /metrics that starts with <paramref name="prefix"/>.</summary>
    public async Task<double> SumAsync(string prefix) => Sum(await Http.GetStringAsync("/metrics"), prefix);

    /// <summary>The sum over every sample line of an exposition that starts with <paramref name="prefix"/>.</summary>
    public static double Sum(string exposition, string prefix) => exposition.Split('\n')
        .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>One line describing this machine.</summary>
    public static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':')[1].Trim() ?? "unknown CPU";
        var gib = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        return $"{Environment.ProcessorCount} cores, {cpu}, {gib:F0} GiB; .NET {Environment.Version}";
    }

    /// <summary>Reads <c>--name value</c> from the arguments.</summary>
    public static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Reads <c>--name N</c> from the arguments.</summary>
    public static int IntArg(string[] args, string name, int fallback) =>
        Arg(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    /// <summary>Stops the node (SIGTERM, then SIGKILL).</summary>
    public void Dispose()
    {
        _sampling.Cancel();
        Http.Dispose();
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString()])?.WaitForExit();
            if (!_process.WaitForExit(15_000)) _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }

    private long Rss()
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:"));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch (IOException) { return 0; }
    }

    private static string FindHostDll()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CeleryActors.sln")))
                return Path.Combine(dir.FullName, "src", "Host", "bin", "Release", "net10.0", "CeleryActors.Host.dll");
        throw new InvalidOperationException("run from inside the repository, or pass --host-dll");
    }
}
