using System.Diagnostics;
using System.Globalization;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The failover run: a private redis-server and <c>--nodes</c> host node processes on it forming one cluster
/// (<see cref="LoadRunCluster"/>), simulated workers in this process speaking wire format v1 (SPEC §4.1) over Redis
/// pub/sub (register for every queue, heartbeat every second, <c>received</c> then <c>succeeded</c> for each
/// assignment), and a producer publishing <c>--rate</c> tasks per second round-robin over <c>--queues</c> queues.
/// After <c>--warmup</c> seconds of steady traffic one node is killed with SIGKILL: in odd runs a node that is not
/// the seed (node 2, 3, ... in turn), in even runs the seed, node 1. A queue stalled when its first assignment more
/// than 200 ms after the kill came more than 1 s after its previous one (its entity lived on the dead node); its
/// failover time is from the kill to that assignment. The producer goes on until every queue had an assignment
/// again (at most 50 s), then everything is given until 60 s after the kill to drain. It prints the stalled queues
/// and their failover times, tasks published, distinct tasks assigned, first deliveries (attempt 1) assigned more
/// than once (must be 0), tasks never assigned, then restarts the killed node on its ports, prints how long it took
/// to be ready and checks a short burst published after that is assigned. Each run uses a fresh cluster.
/// With <c>--intake stream</c> the producer XADDs to the task streams: what the dead node had read and not stored
/// is claimed by a survivor, so "never assigned" must be 0.
/// Usage: <c>cluster-failover [--nodes 3] [--queues 10] [--rate 200] [--runs 3] [--workers 4] [--warmup 10]
/// [--intake pubsub|stream] [--host-dll PATH]</c>.
/// </summary>
public static class ClusterFailoverRun
{
    private static readonly double Ticks = Stopwatch.Frequency;

    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(
            Nodes: RunArgs.IntArg(args, "--nodes", 3),
            Queues: RunArgs.IntArg(args, "--queues", 10),
            Rate: RunArgs.IntArg(args, "--rate", 200),
            Workers: RunArgs.IntArg(args, "--workers", 4),
            WarmupSeconds: RunArgs.IntArg(args, "--warmup", 10),
            HostDll: RunArgs.Arg(args, "--host-dll"),
            Streamed: RunArgs.StreamedIntake(args));
        var runs = RunArgs.IntArg(args, "--runs", 3);
        if (options.Nodes < 2 || options.Queues < 1 || options.Rate < 1 || options.Workers < 1 || runs < 1)
        {
            Console.Error.WriteLine("cluster-failover needs --nodes >= 2 and positive --queues, --rate, --workers, --runs");
            return 2;
        }
        Console.WriteLine("machine: " + ProcessStats.Machine());
        Console.WriteLine($"{options.Nodes} nodes, {options.Queues} queues, {options.Rate} tasks/s ({options.Rate / (double)options.Queues:0.#}/s per queue), " +
                          $"{options.Workers} simulated workers; intake {(options.Streamed ? "streams (XADD)" : "pub/sub")}; " +
                          $"SIGKILL after {options.WarmupSeconds} s; {runs} run(s), each on a fresh cluster");
        if (options.Rate / (double)options.Queues < 5)
            Console.WriteLine("note: under 5 tasks/s per queue a queue's normal gaps come near the 1 s stall threshold");
        var ok = true;
        for (var run = 1; run <= runs; run++)
        {
            var victim = run % 2 == 0 ? 0 : 1 + (run / 2) % (options.Nodes - 1);
            try
            {
                ok &= await OneRunAsync(run, victim, options);
            }
            catch (Exception e)
            {
                Console.WriteLine($"run {run}: FAILED: {e.GetType().Name}: {e.Message}");
                ok = false;
            }
        }
        return ok ? 0 : 1;
    }

    private static async Task<bool> OneRunAsync(int run, int victim, Options o)
    {
        Console.WriteLine($"--- run {run}: kill node {victim + 1}{(victim == 0 ? " (the seed)" : "")}");
        await using var redis = await RedisServerProcess.StartAsync();
        var clusterClock = Stopwatch.StartNew();
        using var cluster = await LoadRunCluster.StartAsync(o.HostDll, redis, o.Nodes);
        // There is no member count over HTTP: every node is ready (joined, Redis reached); give gossip a moment.
        await Task.Delay(3_000);
        Console.WriteLine($"cluster of {o.Nodes} ready in {clusterClock.Elapsed.TotalSeconds:F1} s (+3 s settle); " +
                          $"cluster ports {string.Join(",", cluster.ClusterPorts)}");

        using var mux = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var queueNames = Enumerable.Range(0, o.Queues).Select(q => $"fo{q}").ToArray();
        var workers = new FailoverWorkers(mux.GetSubscriber(), queueNames, o.Workers);
        await workers.StartAsync();
        var producer = new FailoverProducer(mux.GetSubscriber(), mux.GetDatabase(), queueNames, o.Streamed);
        using var stop = new CancellationTokenSource();
        var publishing = Task.CompletedTask;
        try
        {
            // Every queue entity up and every worker registered: one probe task per queue must come back.
            var probes = Enumerable.Range(0, o.Queues).Select(q => $"probe{run}-{q}").ToArray();
            for (var q = 0; q < o.Queues; q++) await producer.PublishAsync(q, probes[q]);
            if (!await WaitUntilAsync(() => probes.All(workers.WasAssigned), TimeSpan.FromSeconds(60)))
                throw new InvalidOperationException("the probe tasks were not all assigned within 60 s");

            var prefix = $"r{run}-";
            publishing = producer.RunAsync(prefix, o.Rate, stop.Token);
            await Task.Delay(TimeSpan.FromSeconds(o.WarmupSeconds));

            var node = cluster.Nodes[victim]!;
            var publishedAtKill = producer.Published;
            var killAt = Stopwatch.GetTimestamp();
            cluster.Kill(victim);
            Console.WriteLine($"killed node {victim + 1} (pid {node.ProcessId}, cluster port {cluster.ClusterPorts[victim]}) with SIGKILL " +
                              $"after {o.WarmupSeconds} s and {publishedAtKill:N0} tasks");

            // Publish until every queue had an assignment again well after the kill (at most 50 s), then 3 s more.
            var resumed = killAt + (long)(1.5 * Ticks);
            await WaitUntilAsync(() => Enumerable.Range(0, o.Queues).All(q => workers.LastAssignedAt(queueNames[q]) > resumed),
                TimeSpan.FromSeconds(50) - Stopwatch.GetElapsedTime(killAt));
            await Task.Delay(3_000);
            await stop.CancelAsync();
            await publishing;
            var published = producer.Published;
            var drained = await WaitUntilAsync(() => workers.CountAssigned(prefix, published) == published,
                TimeSpan.FromSeconds(60) - Stopwatch.GetElapsedTime(killAt));
            var drainSeconds = Stopwatch.GetElapsedTime(killAt).TotalSeconds;

            var stalled = Stalled(workers.Assignments, queueNames, killAt);
            Console.WriteLine(stalled.Count == 0
                ? "stalled queues: none (no assignment gap over 1 s after the kill)"
                : $"stalled queues ({stalled.Count} of {o.Queues}): " + string.Join(", ", stalled.Select(s =>
                    s.Seconds is { } f ? $"{s.Queue} {f:F2} s" : $"{s.Queue} never")));
            if (stalled.Count > 0)
                Console.WriteLine(stalled.Any(s => s.Seconds is null)
                    ? "max failover: some queues never resumed"
                    : $"max failover: {stalled.Max(s => s.Seconds!.Value):F2} s");
            var tally = workers.Tally(prefix, published);
            Console.WriteLine($"published {published:N0}; distinct tasks assigned {tally.Distinct:N0}; " +
                              $"first deliveries (attempt 1) assigned more than once: {tally.DuplicateFirst:N0}; " +
                              $"redeliveries (attempt > 1): {tally.Redeliveries:N0}; never assigned: {published - tally.Distinct:N0} " +
                              (drained ? $"(all assigned {drainSeconds:F1} s after the kill)" : "(gave up 60 s after the kill)"));

            var readyIn = await cluster.RestartAsync(victim);
            Console.WriteLine($"restarted node {victim + 1} on the same ports" +
                              (victim == 0 ? " (seeding from the other nodes)" : "") + $": ready in {readyIn.TotalSeconds:F1} s");
            // The cluster with the node back still allocates: a short burst, all of it assigned.
            var after = $"r{run}b-";
            var burst = Math.Max(o.Queues, 2 * o.Rate);
            var burstClock = Stopwatch.StartNew();
            for (var i = 0; i < burst; i++) await producer.PublishAsync(i % o.Queues, after + i.ToString(CultureInfo.InvariantCulture));
            var burstDone = await WaitUntilAsync(() => workers.CountAssigned(after, burst) == burst, TimeSpan.FromSeconds(30));
            var afterTally = workers.Tally(after, burst);
            Console.WriteLine($"after the restart: {afterTally.Distinct:N0} of {burst:N0} tasks assigned " +
                              (burstDone ? $"in {burstClock.Elapsed.TotalSeconds:F1} s" : "within 30 s") +
                              $", first deliveries assigned more than once: {afterTally.DuplicateFirst:N0}");
            Console.WriteLine($"malformed assignments: {workers.Malformed}; node logs: {cluster.LogSummary()}");

            var ok = tally.DuplicateFirst == 0 && drained && burstDone && afterTally.DuplicateFirst == 0;
            Console.WriteLine(ok ? $"run {run} RESULT: every task assigned, no first delivery twice"
                : $"run {run} RESULT: LOST OR DUPLICATED TASKS");
            return ok;
        }
        finally
        {
            await stop.CancelAsync();
            try { await publishing; } catch (Exception e) when (e is RedisException or OperationCanceledException) { }
            await workers.StopAsync();
        }
    }

    /// <summary>Per queue that went quiet after the kill: its name and the seconds from the kill to its next
    /// assignment (null: none came).</summary>
    private static List<(string Queue, double? Seconds)> Stalled(IReadOnlyCollection<FailoverAssignment> log, string[] queues, long killAt)
    {
        var grace = killAt + (long)(0.2 * Ticks);
        var result = new List<(string, double?)>();
        foreach (var queue in queues)
        {
            var times = log.Where(a => a.Queue == queue).Select(a => a.At).Order().ToArray();
            var before = times.Where(t => t <= grace).DefaultIfEmpty(killAt).Max();
            var first = times.FirstOrDefault(t => t > grace);
            if (first == 0) result.Add((queue, null));
            else if ((first - before) / Ticks > 1.0) result.Add((queue, (first - killAt) / Ticks));
        }
        return result;
    }

    private static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed >= timeout) return false;
            await Task.Delay(50);
        }
        return true;
    }

    private sealed record Options(int Nodes, int Queues, int Rate, int Workers, int WarmupSeconds, string? HostDll,
        bool Streamed);
}
