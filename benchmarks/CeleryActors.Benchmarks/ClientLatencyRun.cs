using System.Diagnostics;
using System.Globalization;
using CeleryActors.Client;
using CeleryActors.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The client round-trip run: a private redis-server, one host node process on it, and an actor client in this
/// process. After a warm-up it times query round trips one at a time (each waits for its reply, so the figure is
/// latency, not throughput): <c>GetQueueAsync</c> (client → receptionist → gateway → Redis SISMEMBER → queue
/// entity → back) and <c>GetWorkersAsync</c> with one worker registered.
/// Usage: <c>client-latency [--count N] [--warmup N] [--host-dll PATH]</c>.
/// </summary>
public static class ClientLatencyRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = RunArgs.IntArg(args, "--count", 10_000);
        var warmup = RunArgs.IntArg(args, "--warmup", 2_000);
        Console.WriteLine("machine: " + ProcessStats.Machine());
        Console.WriteLine($"{count:N0} sequential round trips per query after {warmup:N0} warm-up calls; one node, client in this process");

        await using var redis = await RedisServerProcess.StartAsync();
        var clusterPort = FreePort.Find();
        using var node = await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis,
            new Dictionary<string, string> { ["CLUSTER_PORT"] = clusterPort.ToString(CultureInfo.InvariantCulture) });
        await using var client = CeleryActorsClient.Start(new CeleryActorsClientOptions
        {
            Contacts = [$"127.0.0.1:{clusterPort}"],
        });
        await client.RegisterWorkerAsync("bench-worker", ["bench"], poolSize: 1);
        await client.PublishTaskAsync("bench", "job", taskId: "bench-1");

        foreach (var (name, call) in new (string, Func<Task>)[]
                 {
                     ("GetQueueAsync", () => client.GetQueueAsync("bench")),
                     ("GetWorkersAsync", () => client.GetWorkersAsync()),
                 })
        {
            for (var i = 0; i < warmup; i++) await call();
            var micros = new double[count];
            var total = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await call();
                micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
            total.Stop();
            Array.Sort(micros);
            Console.WriteLine(FormattableString.Invariant(
                $"{name}: p50 {P(micros, 0.50) / 1000:F2} ms, p90 {P(micros, 0.90) / 1000:F2} ms, p99 {P(micros, 0.99) / 1000:F2} ms, max {micros[^1] / 1000:F2} ms; {count / total.Elapsed.TotalSeconds:F0} calls/s one at a time"));
        }
        return 0;
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
}
