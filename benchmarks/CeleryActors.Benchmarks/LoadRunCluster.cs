using System.Diagnostics;
using System.Text.RegularExpressions;
using CeleryActors.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// N host node processes on one private Redis forming one cluster on loopback, for the cluster load runs:
/// node 1 is its own seed (no CLUSTER_SEEDS), the others seed from it; each has its own free CLUSTER_PORT and
/// METRICS_PORT, kept for its whole life so a killed node can come back on the same ports. Each node's output goes
/// to <c>node{i}.log</c> in <see cref="LogDirectory"/>. Disposing stops every node still running.
/// </summary>
public sealed class LoadRunCluster : IDisposable
{
    private static readonly Regex Level = new(@"^(?:\S+ )?(warn|fail|crit): ", RegexOptions.Compiled);
    private readonly string? _hostDll;
    private readonly RedisServerProcess _redis;
    private readonly IDictionary<string, string>? _settings;

    private LoadRunCluster(string? hostDll, RedisServerProcess redis, int count, IDictionary<string, string>? settings)
    {
        _hostDll = hostDll;
        _redis = redis;
        _settings = settings;
        ClusterPorts = Enumerable.Range(0, count).Select(_ => FreePort.Find()).ToArray();
        MetricsPorts = Enumerable.Range(0, count).Select(_ => FreePort.Find()).ToArray();
        Nodes = new LoadRunNode?[count];
        LogDirectory = Directory.CreateTempSubdirectory("celeryactors-cluster-").FullName;
    }

    /// <summary>The nodes, index 0 = node 1; null while a node is down.</summary>
    public LoadRunNode?[] Nodes { get; }

    /// <summary>Each node's CLUSTER_PORT.</summary>
    public int[] ClusterPorts { get; }

    /// <summary>Each node's METRICS_PORT.</summary>
    public int[] MetricsPorts { get; }

    /// <summary>Where the nodes' logs are.</summary>
    public string LogDirectory { get; }

    /// <summary>Every node's <c>HOST:PORT</c>, for the actor client's contacts.</summary>
    public IReadOnlyList<string> Contacts => ClusterPorts.Select(p => $"127.0.0.1:{p}").ToArray();

    /// <summary>The nodes running now.</summary>
    public IEnumerable<LoadRunNode> Running => Nodes.Where(n => n is { HasExited: false }).Select(n => n!);

    /// <summary>Starts node 1, waits until it is ready, then the others together and waits until each is ready
    /// (ready = joined the cluster and reached Redis).</summary>
    public static async Task<LoadRunCluster> StartAsync(string? hostDll, RedisServerProcess redis, int count,
        IDictionary<string, string>? settings = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var cluster = new LoadRunCluster(hostDll, redis, count, settings);
        try
        {
            await cluster.StartNodeAsync(0, []);
            await Task.WhenAll(Enumerable.Range(1, count - 1).Select(i => cluster.StartNodeAsync(i, [cluster.ClusterPorts[0]])));
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>SIGKILLs node <paramref name="index"/> (0-based); it stays in <see cref="Nodes"/> until restarted.</summary>
    public void Kill(int index) => Nodes[index]?.Kill();

    /// <summary>
    /// Starts node <paramref name="index"/> again on its ports and returns how long it took to become ready.
    /// A restarted node 1 seeds from the other nodes, not from itself: with no seeds it would form a second cluster
    /// of its own beside the running one.
    /// </summary>
    public async Task<TimeSpan> RestartAsync(int index)
    {
        Nodes[index]?.Dispose();
        Nodes[index] = null;
        IEnumerable<int> seeds = index == 0 ? ClusterPorts.Skip(1).ToArray() : [ClusterPorts[0]];
        var clock = Stopwatch.StartNew();
        // The old process's ports may linger a moment; a node that exits at once is retried.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartNodeAsync(index, seeds);
                return clock.Elapsed;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                await Task.Delay(2_000);
            }
        }
    }

    /// <summary>Per node, how many log entries are warnings and how many errors (the console logger's
    /// <c>warn:</c>, and <c>fail:</c> or <c>crit:</c>, after an optional time stamp), and where the logs are.</summary>
    public string LogSummary()
    {
        var parts = new List<string>();
        for (var i = 0; i < Nodes.Length; i++)
        {
            var path = Path.Combine(LogDirectory, $"node{i + 1}.log");
            var lines = File.Exists(path) ? File.ReadAllLines(path) : [];
            var warnings = lines.Count(l => Level.Match(l) is { Success: true } m && m.Groups[1].Value == "warn");
            var errors = lines.Count(l => Level.Match(l) is { Success: true } m && m.Groups[1].Value != "warn");
            parts.Add($"node{i + 1} {warnings} warnings, {errors} errors");
        }
        return string.Join("; ", parts) + $" (logs in {LogDirectory})";
    }

    /// <summary>Stops every node still running (SIGTERM, then SIGKILL), all at once.</summary>
    public void Dispose()
    {
        Task.WaitAll(Nodes.Where(n => n is not null).Select(n => Task.Run(n!.Dispose)).ToArray());
        Array.Clear(Nodes);
    }

    private async Task StartNodeAsync(int index, IEnumerable<int> seeds)
    {
        var settings = LoadRunNode.ClusterSettings(ClusterPorts[index], seeds);
        foreach (var (k, v) in _settings ?? new Dictionary<string, string>()) settings[k] = v;
        var node = LoadRunNode.Launch(_hostDll, _redis, settings, $"node{index + 1}", MetricsPorts[index],
            Path.Combine(LogDirectory, $"node{index + 1}.log"));
        try
        {
            await node.WaitReadyAsync(TimeSpan.FromSeconds(90));
            Nodes[index] = node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }
}
