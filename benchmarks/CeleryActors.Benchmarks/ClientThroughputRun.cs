using System.Diagnostics;
using System.Globalization;
using CeleryActors.Client;
using CeleryActors.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The client throughput run: a private redis-server, <c>--nodes</c> host node processes on it forming one cluster
/// (<see cref="LoadRunCluster"/>), and one actor client in this process with every node as a contact. No worker is
/// registered, so the run measures acceptance only: <c>--count</c> <c>PublishTaskAsync</c> calls (each returns once
/// the queue entity took the task), at most <c>--concurrency</c> in flight, round-robin over <c>--queues</c>
/// queues, after <c>--warmup</c> calls on other queues that are not measured. A call that fails (timeout, gateway
/// failure) is retried with the same task id, up to three attempts, as the client's documentation advises. It
/// prints calls completed per second, the call latency (p50, p90, p99, max; a retried call counts from its first
/// attempt), and checks, by summing <c>accepted</c> over <c>GetQueuesAsync</c> for the measured queues, that
/// every task was accepted exactly once. <c>--nodes-list 1,2,3</c> repeats the run for each cluster size, each
/// on a fresh cluster.
/// Usage: <c>client-throughput [--nodes 1 | --nodes-list 1,2,3] [--count 50000] [--concurrency 256] [--queues 10] [--warmup 5000] [--host-dll PATH]</c>.
/// </summary>
public static class ClientThroughputRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = RunArgs.Arg(args, "--nodes-list") is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray()
            : [RunArgs.IntArg(args, "--nodes", 1)];
        var count = RunArgs.IntArg(args, "--count", 50_000);
        var concurrency = RunArgs.IntArg(args, "--concurrency", 256);
        var queues = RunArgs.IntArg(args, "--queues", 10);
        var warmup = RunArgs.IntArg(args, "--warmup", 5_000);
        if (sizes.Any(n => n < 1) || count < 1 || concurrency < 1 || queues < 1 || warmup < 0)
        {
            Console.Error.WriteLine("client-throughput needs positive --nodes, --count, --concurrency, --queues");
            return 2;
        }
        Console.WriteLine("machine: " + ProcessStats.Machine());
        Console.WriteLine($"{count:N0} PublishTaskAsync calls, at most {concurrency} in flight, over {queues} queues, " +
                          $"after {warmup:N0} warm-up calls; no worker (acceptance only); client in this process");
        var ok = true;
        foreach (var nodes in sizes)
        {
            try
            {
                ok &= await OneRunAsync(nodes, count, concurrency, queues, warmup, RunArgs.Arg(args, "--host-dll"));
            }
            catch (Exception e)
            {
                Console.WriteLine($"{nodes} node(s): FAILED: {e.GetType().Name}: {e.Message}");
                ok = false;
            }
        }
        return ok ? 0 : 1;
    }

    private static async Task<bool> OneRunAsync(int nodes, int count, int concurrency, int queues, int warmup, string? hostDll)
    {
        await using var redis = await RedisServerProcess.StartAsync();
        using var cluster = await LoadRunCluster.StartAsync(hostDll, redis, nodes);
        // There is no member count over HTTP: every node is ready (joined, Redis reached); give gossip a moment.
        await Task.Delay(3_000);
        await using var client = CeleryActorsClient.Start(new CeleryActorsClientOptions { Contacts = cluster.Contacts });

        // The cluster client must have found a receptionist before hundreds of calls are sent at once: while it has
        // none it buffers calls (at most 1,000) and they time out.
        var contact = Stopwatch.StartNew();
        for (var connected = false; !connected;)
        {
            try
            {
                await client.GetQueuesAsync();
                connected = true;
            }
            catch (CeleryActorsException) when (contact.Elapsed < TimeSpan.FromSeconds(60)) { }
        }
        if (warmup > 0) await PumpAsync(client, "warm", queues, warmup, concurrency);
        var measured = await PumpAsync(client, "tp", queues, count, concurrency);

        var stats = (await client.GetQueuesAsync()).Where(q => q.Queue.StartsWith("tp", StringComparison.Ordinal)).ToList();
        var accepted = stats.Sum(q => q.Accepted);
        var latencies = measured.Millis.Where(m => m >= 0).Order().ToArray();
        Console.WriteLine($"--- {nodes} node(s): {count:N0} calls in {measured.Seconds:F2} s = {count / measured.Seconds:N0} calls/s " +
                          $"(concurrency {concurrency})");
        if (latencies.Length > 0)
            Console.WriteLine(FormattableString.Invariant(
                $"call latency (ms): p50 {P(latencies, 0.50):F2}, p90 {P(latencies, 0.90):F2}, p99 {P(latencies, 0.99):F2}, max {latencies[^1]:F2}"));
        Console.WriteLine($"accepted {accepted:N0} of {count:N0} sent over {stats.Count} queues; duplicates {stats.Sum(q => q.Duplicates):N0}; " +
                          $"retried calls {measured.Retried:N0}; calls failed after 3 attempts {measured.Failed:N0}" +
                          (measured.Errors.Count > 0 ? $" ({string.Join(", ", measured.Errors.Select(e => $"{e.Key} x{e.Value}"))})" : ""));
        Console.WriteLine($"node logs: {cluster.LogSummary()}");
        var ok = accepted == count && measured.Failed == 0;
        Console.WriteLine(ok ? "RESULT: every task accepted exactly once" : "RESULT: COUNTS DIFFER");
        return ok;
    }

    /// <summary>Publishes tasks <c>{prefix}0</c>.. on queues <c>{prefix}0</c>.., at most <paramref name="concurrency"/>
    /// calls in flight; returns each call's latency in ms (-1: failed), the wall time, and the retries and failures.</summary>
    private static async Task<(double[] Millis, double Seconds, int Retried, int Failed, Dictionary<string, int> Errors)> PumpAsync(
        CeleryActorsClient client, string prefix, int queues, int count, int concurrency)
    {
        var millis = new double[count];
        var next = -1;
        var retried = 0;
        var failed = 0;
        var errors = new Dictionary<string, int>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Math.Min(concurrency, count)).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                var queue = prefix + (i % queues).ToString(CultureInfo.InvariantCulture);
                var id = prefix + "-" + i.ToString(CultureInfo.InvariantCulture);
                var start = Stopwatch.GetTimestamp();
                millis[i] = -1;
                for (var attempt = 1; attempt <= 3; attempt++)
                {
                    try
                    {
                        await client.PublishTaskAsync(queue, "throughput.task", taskId: id);
                        millis[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        break;
                    }
                    catch (CeleryActorsException e)
                    {
                        lock (errors) errors[e.GetType().Name] = errors.GetValueOrDefault(e.GetType().Name) + 1;
                        if (attempt < 3) Interlocked.Increment(ref retried);
                        else Interlocked.Increment(ref failed);
                    }
                }
            }
        })));
        return (millis, clock.Elapsed.TotalSeconds, retried, failed, errors);
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
}
