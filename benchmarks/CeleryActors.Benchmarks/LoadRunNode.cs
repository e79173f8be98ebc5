using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using CeleryActors.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// A host node process for load runs (the built CeleryActors.Host), with the helpers every load run needs:
/// readiness, reading counters off /metrics, sampling resident memory and killing it hard (SIGKILL). Every node started is also killed when this process exits or gets SIGINT, SIGTERM or SIGQUIT, so
/// a run that fails or is stopped half-way leaves no node behind (nor the redis-server its nodes use).
/// </summary>
public sealed class LoadRunNode : IDisposable
{
    private static readonly ConcurrentDictionary<LoadRunNode, byte> Live = new();
    private readonly Process _process;
    private readonly List<(double Seconds, long RssKiB)> _memory = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _sampling = new();
    private readonly StreamWriter? _log;
    private Task? _sampler;

    private static readonly ConcurrentDictionary<int, byte> OtherChildren = new();
    private static readonly PosixSignalRegistration[] Signals =
        [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT }.Select(s => PosixSignalRegistration.Create(s, _ => KillAll()))];

    static LoadRunNode()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        GC.KeepAlive(Signals);
    }

    /// <summary>Has the run's private redis-server killed too if this process is interrupted or exits before the run
    /// stops it (its normal stop is still the caller's <c>DisposeAsync</c>).</summary>
    private static void KillAtExit(RedisServerProcess redis)
    {
        if (redis.ProcessId is { } pid) OtherChildren[pid] = 0;
    }

    private LoadRunNode(Process process, int port, string label, StreamWriter? log)
    {
        _process = process;
        _log = log;
        Label = label;
        MetricsPort = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    /// <summary>A client for the node's HTTP endpoints.</summary>
    public HttpClient Http { get; }

    /// <summary>The node's process id (for its CPU accounting).</summary>
    public int ProcessId => _process.Id;

    /// <summary>The name its output lines carry (e.g. <c>node2</c>).</summary>
    public string Label { get; }

    /// <summary>The node's METRICS_PORT.</summary>
    public int MetricsPort { get; }

    /// <summary>Whether the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts a node on <paramref name="redis"/> with extra settings and waits until it is ready.</summary>
    public static async Task<LoadRunNode> StartAsync(string? hostDll, RedisServerProcess redis,
        IDictionary<string, string>? settings = null, string label = "node", int? metricsPort = null, string? logPath = null)
    {
        var node = Launch(hostDll, redis, settings, label, metricsPort, logPath);
        try
        {
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts a node process without waiting for it: REDIS_URL is <paramref name="redis"/>, METRICS_PORT is
    /// <paramref name="metricsPort"/> (a free one when null), CLUSTER_PORT 0 unless <paramref name="settings"/> say
    /// otherwise. Its stderr is echoed here with <paramref name="label"/>; with <paramref name="logPath"/> its
    /// stdout and stderr are appended to that file as well (else stdout is dropped).
    /// </summary>
    public static LoadRunNode Launch(string? hostDll, RedisServerProcess redis, IDictionary<string, string>? settings = null,
        string label = "node", int? metricsPort = null, string? logPath = null)
    {
        var port = metricsPort ?? FreePort.Find();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(hostDll ?? FindHostDll());
        info.Environment["REDIS_URL"] = redis.Url.ToString();
        info.Environment["METRICS_HOST"] = "127.0.0.1";
        info.Environment["METRICS_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        info.Environment["CLUSTER_HOSTNAME"] = "127.0.0.1";
        info.Environment["CLUSTER_PORT"] = "0";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (k, v) in settings ?? new Dictionary<string, string>()) info.Environment[k] = v;
        var log = logPath is null ? null : new StreamWriter(logPath, append: true) { AutoFlush = true };
        var process = Process.Start(info)!;
        var node = new LoadRunNode(process, port, label, log);
        Live[node] = 0;
        KillAtExit(redis);
        process.OutputDataReceived += (_, e) => node.Log(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Console.Error.WriteLine($"{label}: {e.Data}");
            node.Log(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>The settings that put a node on <paramref name="clusterPort"/> and join it to the nodes at
    /// <paramref name="seedPorts"/> on loopback (none: the node is its own seed).</summary>
    public static Dictionary<string, string> ClusterSettings(int clusterPort, IEnumerable<int> seedPorts)
    {
        var settings = new Dictionary<string, string> { ["CLUSTER_PORT"] = clusterPort.ToString(CultureInfo.InvariantCulture) };
        var seeds = string.Join(",", seedPorts.Select(p => $"127.0.0.1:{p}"));
        if (seeds.Length > 0) settings["CLUSTER_SEEDS"] = seeds;
        return settings;
    }

    /// <summary>Polls /health/ready until it answers 200; returns how long that took. Throws when the process
    /// exits first or <paramref name="timeout"/> passes.</summary>
    public async Task<TimeSpan> WaitReadyAsync(TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        using var probe = new HttpClient { BaseAddress = Http.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        while (waited.Elapsed < timeout && !_process.HasExited)
        {
            try
            {
                if ((await probe.GetAsync("/health/ready")).IsSuccessStatusCode) return waited.Elapsed;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new InvalidOperationException(_process.HasExited
            ? $"{Label} exited with code {_process.ExitCode} before it was ready"
            : $"{Label} did not become ready within {timeout.TotalSeconds:F0} s");
    }

    /// <summary>Kills the node with SIGKILL (<c>kill -KILL pid</c>: no shutdown, no leaving the cluster) and waits
    /// until the process is gone.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        Process.Start("kill", ["-KILL", _process.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
        if (!_process.WaitForExit(10_000)) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
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

    /// <summary>The highest resident memory sampled so far, in MiB.</summary>
    public double PeakRssMiB => _memory.Count == 0 ? 0 : _memory.Max(m => m.RssKiB) / 1024.0;

    /// <summary>The sum over every sample line of /metrics that starts with <paramref name="prefix"/>.</summary>
    public async Task<double> SumAsync(string prefix) => Sum(await Http.GetStringAsync("/metrics"), prefix);

    /// <summary>The sum over every sample line of an exposition that starts with <paramref name="prefix"/>.</summary>
    public static double Sum(string exposition, string prefix) => exposition.Split('\n')
        .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>Stops the node (SIGTERM, then SIGKILL).</summary>
    public void Dispose()
    {
        _sampling.Cancel();
        Http.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
                if (!_process.WaitForExit(15_000)) _process.Kill(entireProcessTree: true);
            }
            _process.WaitForExit(); // drains the output handlers before the log closes
        }
        catch (InvalidOperationException) { } // already disposed
        Live.TryRemove(this, out _);
        _process.Dispose();
        lock (_process) _log?.Dispose();
    }

    /// <summary>Kills every node still running (at exit or Ctrl+C).</summary>
    private static void KillAll()
    {
        foreach (var node in Live.Keys)
        {
            try
            {
                if (!node._process.HasExited) node._process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
        foreach (var pid in OtherChildren.Keys)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                if (!process.HasExited && process.ProcessName.Contains("redis", StringComparison.Ordinal)) process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
    }

    private void Log(string? line)
    {
        if (line is null || _log is null) return;
        lock (_process)
        {
            try { _log.WriteLine(line); }
            catch (ObjectDisposedException) { }
        }
    }

    private long Rss() => ProcessStats.StatusKiB(_process.Id, "VmRSS:");

    private static string FindHostDll()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CeleryActors.sln")))
                return Path.Combine(dir.FullName, "src", "Host", "bin", "Release", "net10.0", "CeleryActors.Host.dll");
        throw new InvalidOperationException("run from inside the repository, or pass --host-dll");
    }
}
