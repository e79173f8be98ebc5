using System.Diagnostics;
using CeleryActors.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// What an idle node costs: a node watching an empty Celery broker (no workers, no tasks) on a private Redis,
/// given a warm-up, then its CPU over a window. The node's own timers, cluster gossip and Redis probes are all
/// that run; with <c>--without-celery</c> the node watches no broker, which tells Celery monitoring's share.
/// Usage: <c>load-idle [--seconds N] [--warm-up N] [--without-celery] [--host-dll PATH]</c>.
/// </summary>
public static class IdleRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = RunArgs.IntArg(args, "--seconds", 60);
        var warmUp = RunArgs.IntArg(args, "--warm-up", 20);
        Console.WriteLine($"machine: {ProcessStats.Machine()}");
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var settings = args.Contains("--without-celery")
            ? new Dictionary<string, string>()
            : new Dictionary<string, string> { ["CELERY_BROKER_URL"] = redis.Url.ToString() };
        using var node = await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis, settings);
        await Task.Delay(TimeSpan.FromSeconds(warmUp));
        var (node0, redis0) = (ProcessStats.CpuSeconds(node.ProcessId), ProcessStats.CpuSeconds(redis.ProcessId ?? 0));
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        var elapsed = clock.Elapsed.TotalSeconds;
        var nodeCpu = ProcessStats.CpuSeconds(node.ProcessId) - node0;
        var redisCpu = ProcessStats.CpuSeconds(redis.ProcessId ?? 0) - redis0;
        Console.WriteLine($"idle for {elapsed:F0} s after {warmUp} s of warm-up: node {nodeCpu:F2} CPU-s = {nodeCpu / elapsed:F3} cores; " +
                          $"redis-server {redisCpu / elapsed:F3} cores; node RSS {ProcessStats.PeakRssOf(node.ProcessId):F0} MiB at most");
        return 0;
    }
}
