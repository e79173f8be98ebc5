using System.Diagnostics;
using System.Globalization;
using System.Text;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The allocator load run: a private redis-server with the append-only file on, a host node process on it
/// (journal and snapshots in that Redis), and this process as both producer and simulated workers. Each worker
/// subscribes to its channel and, for every assignment, publishes <c>received</c> and <c>succeeded</c> at once
/// (with <c>--started</c>, also <c>started</c> between them, each its own message).
/// Tasks are published at a paced rate over several queues. It reports tasks allocated per second, the
/// producer's publish-to-assignment latency (measured here, across two pub/sub hops) and the node's own
/// arrival-to-allocation histogram, its journal writes' histogram, and the CPU seconds the node and Redis used.
/// A warm-up of <c>--warmup</c> tasks (default 50,000, at 5,000/s) runs first and is not measured: the node's
/// JIT (tiered compilation) otherwise spends a fifth of the CPU of a short run compiling the hot path. Its tasks have
/// the measured ones' shape and the pool sampler (below) already runs, so the measured phase meets no code first.
/// Each worker serves <c>--queues-per-worker</c> of the queues (default all; worker w takes queues w, w+1, ... mod Q),
/// and the run checks its pool: at every assignment a simulated worker counts what it received and has not reported
/// finished (which can only be at most what the node believes it holds), and the node's <c>/api/workers</c> is
/// sampled every 100 ms; either one over the pool fails the run.
/// Usage: <c>load-allocator [--count N] [--rate PER_SECOND] [--warmup N] [--queues Q] [--workers W] [--pool P]
/// [--queues-per-worker K] [--intake pubsub|stream] [--nodes N] [--started] [--stamp-reports] [--stamp-tasks] [--burst B] [--idle S] [--host-dll PATH] [--node-env NAME=VALUE ...]</c>.
/// A paced run sends a millisecond's worth of tasks at a time (13 at 12,500/s), or <c>--burst B</c> at a time (runs
/// before 2026-12-03 sent 200: at 12,500/s a burst every 16 ms, more than a pool of 128 slots takes at once). With
/// <c>--intake stream</c> the tasks are XADDed to the queues' streams (the durable intake) instead of published.
/// With <c>--nodes N</c> (default 1) N host nodes form one cluster on the Redis; the counters, histograms and CPU
/// seconds are summed over them. With <c>--stamp-reports</c> the <c>succeeded</c> reports carry <c>published_at</c>, so
/// the node observes their pub/sub latency (published to handled by its intake), and the run prints that histogram:
/// the part of a slot's round trip that is Redis and the node's intake; <c>--stamp-tasks</c> does the same for the tasks
/// (published to taken, the part before the node's arrival-to-allocation clock starts). Every run also prints, from the
/// assignments' <c>allocated_at</c>, how long an allocation took to reach its simulated worker (the journal write,
/// the publish, Redis and this process), and the producer's p99 per priority. Each <c>--node-env NAME=VALUE</c> sets
/// an environment variable of the nodes alone (a runtime knob to compare, say). With <c>--idle S</c> the run first
/// measures the nodes' CPU over S seconds with nothing to do after the warm-up, and also prints the cost per task
/// above that idle rate.
/// </summary>
public static class AllocatorLoadRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = RunArgs.IntArg(args, "--count", 200_000);
        var rate = RunArgs.IntArg(args, "--rate", 20_000);
        var queues = RunArgs.IntArg(args, "--queues", 4);
        var workers = RunArgs.IntArg(args, "--workers", 8);
        var pool = RunArgs.IntArg(args, "--pool", 10_000);
        var warmup = RunArgs.IntArg(args, "--warmup", 50_000);
        var perWorker = Math.Min(queues, RunArgs.IntArg(args, "--queues-per-worker", queues));
        var streamed = RunArgs.StreamedIntake(args);
        var nodeCount = RunArgs.IntArg(args, "--nodes", 1);
        var withStarted = args.Contains("--started");
        var stampReports = args.Contains("--stamp-reports");
        var stampTasks = args.Contains("--stamp-tasks");
        var burst = RunArgs.IntArg(args, "--burst", BatchFor(rate));
        var idleSeconds = RunArgs.IntArg(args, "--idle", 0);
        if (idleSeconds < 0) throw new ArgumentException($"--idle {idleSeconds}: seconds, at least 0");
        if (burst < 1) throw new ArgumentException($"--burst {burst}: at least 1 task at a time");
        Console.WriteLine($"machine: {ProcessStats.Machine()}");
        Console.WriteLine($"{count:N0} tasks at {(rate == 0 ? "full speed" : $"{rate:N0}/s")} over {queues} queues{(rate == 0 ? "" : $" in bursts of {burst}")}; {workers} workers of pool {pool}, each on {perWorker} queues; intake {(streamed ? "streams (XADD)" : "pub/sub")}; {nodeCount} node(s); reports {(withStarted ? "received, started, succeeded" : "received, succeeded")}");

        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        var nodeSettings = new Dictionary<string, string>
        {
            ["ALLOCATOR_ACK_TIMEOUT"] = "60",
            ["ALLOCATOR_WORKER_TIMEOUT"] = "60",
        };
        foreach (var (name, value) in RunArgs.NodeEnvironment(args)) nodeSettings[name] = value;
        using var single = nodeCount == 1 ? await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis, nodeSettings) : null;
        using var cluster = nodeCount > 1 ? await LoadRunCluster.StartAsync(RunArgs.Arg(args, "--host-dll"), redis, nodeCount, nodeSettings) : null;
        List<LoadRunNode> nodes = single is not null ? [single] : cluster!.Running.ToList();
        var http = nodes[0].Http;
        // Every node's exposition, one after the other: sums over the lines are sums over the nodes.
        async Task<string> Scrape() => string.Join('\n', await Task.WhenAll(nodes.Select(n => n.Http.GetStringAsync("/metrics"))));
        double NodeCpu() => nodes.Sum(n => ProcessStats.CpuSeconds(n.ProcessId));
        using var producer = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        using var workerSide = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var sentAt = new long[count];
        var assignedAt = new long[count];
        var assigned = 0;
        var deliveredAfter = new double[count]; // ms from the node's allocated_at to this process's receipt (wall clocks of one machine)
        var warmedUp = 0;
        var statusChannel = RedisChannel.Literal("task-status");
        var workerPublisher = workerSide.GetSubscriber();
        var unfinished = new int[workers];
        var overPool = 0;
        var maxUnfinished = 0;
        for (var w = 0; w < workers; w++)
        {
            var name = $"sim{w}";
            var index = w;
            var queue = await workerSide.GetSubscriber().SubscribeAsync(RedisChannel.Literal("worker:" + name));
            queue.OnMessage(m =>
            {
                var json = (string)m.Message!;
                var id = TaskIdOf(json);
                var holding = Interlocked.Increment(ref unfinished[index]);
                if (holding > pool) Interlocked.Increment(ref overPool);
                InterlockedMax(ref maxUnfinished, holding);
                if (id[0] == 'W') Interlocked.Increment(ref warmedUp);
                else if (int.Parse(id.AsSpan(1), CultureInfo.InvariantCulture) is var n &&
                         Interlocked.CompareExchange(ref assignedAt[n], Stopwatch.GetTimestamp(), 0) == 0)
                {
                    Interlocked.Increment(ref assigned);
                    deliveredAfter[n] = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds - AllocatedAtOf(json) * 1000;
                }
                workerPublisher.Publish(statusChannel, $$"""{"task_id":"{{id}}","worker":"{{name}}","status":"received"}""", CommandFlags.FireAndForget);
                if (withStarted)
                    workerPublisher.Publish(statusChannel, $$"""{"task_id":"{{id}}","worker":"{{name}}","status":"started"}""", CommandFlags.FireAndForget);
                // Counted down before the report leaves: the node cannot have processed it earlier.
                Interlocked.Decrement(ref unfinished[index]);
                var stamp = stampReports ? PublishedAtField() : "";
                workerPublisher.Publish(statusChannel, $$"""{"task_id":"{{id}}","worker":"{{name}}","status":"succeeded","runtime":0.001{{stamp}}}""", CommandFlags.FireAndForget);
            });
            var queueList = string.Join(",", Enumerable.Range(0, perWorker).Select(j => $"\"load{(w + j) % queues}\""));
            await workerPublisher.PublishAsync(RedisChannel.Literal("workers:control"),
                $$"""{"type":"register","worker":"{{name}}","queues":[{{queueList}}],"pool_size":{{pool}}}""");
        }
        await WaitForWorkersAsync(Scrape, workers);
        var subscriber = producer.GetSubscriber();
        var streams = streamed ? producer.GetDatabase() : null;
        var channels = Enumerable.Range(0, queues).Select(q => RedisChannel.Literal($"tasks:load{q}")).ToArray();
        // The pool is sampled from the warm-up on, and the warm-up's tasks have the measured tasks' shape (a priority
        // and task_data): code first run in the measured phase would be jitted, and tiered up, inside it.
        using var sampling = new CancellationTokenSource();
        var sampler = SamplePoolsAsync(http, pool, sampling.Token);
        if (warmup > 0)
        {
            await PublishAsync(subscriber, streams, channels, warmup, WarmupRate, BatchFor(WarmupRate),
                i => $$$"""{"task_name":"load.warmup","task_id":"W{{{i}}}","priority":{{{PriorityOf(i)}}},"task_data":{"n":{{{i}}}}}""", null);
            var warmDeadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < warmDeadline &&
                   (Volatile.Read(ref warmedUp) < warmup || LoadRunNode.Sum(await Scrape(), "celery_task_succeeded_total{") < warmup))
                await Task.Delay(100);
            Console.WriteLine($"warm-up: {warmedUp:N0} tasks allocated and finished (not measured)");
        }
        // What the nodes use with nothing to do (cluster gossip, the workers' announcements, the sweeps, the JIT's
        // last tier-ups): the part of a paced run's cost that does not come from its tasks.
        var idleRate = 0.0;
        if (idleSeconds > 0)
        {
            var idleBefore = nodes.Select(n => ProcessStats.CpuSeconds(n.ProcessId)).ToArray();
            var idleStart = Stopwatch.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(idleSeconds));
            var idleWall = Stopwatch.GetElapsedTime(idleStart).TotalSeconds;
            var idle = nodes.Select((n, i) => ProcessStats.CpuSeconds(n.ProcessId) - idleBefore[i]).ToArray();
            idleRate = idle.Sum() / idleWall;
            Console.WriteLine($"idle for {idleWall:F1} s: node CPU {idle.Sum():F2} s" +
                              (nodes.Count > 1 ? $" (per node {string.Join(", ", idle.Select(c => c.ToString("F2", CultureInfo.InvariantCulture)))})" : "") +
                              $" = {idleRate:F3} CPU-s per second");
        }
        var beforeText = await Scrape();
        var perNodeBefore = nodes.Select(n => ProcessStats.CpuSeconds(n.ProcessId)).ToArray();
        var cpuBefore = (Node: NodeCpu(), Redis: ProcessStats.CpuSeconds(redis.ProcessId ?? 0), Load: ProcessStats.CpuSeconds(Environment.ProcessId));

        var start = Stopwatch.GetTimestamp();
        await PublishAsync(subscriber, streams, channels, count, rate, burst,
            i => $$$"""{"task_name":"load.task","task_id":"L{{{i}}}","priority":{{{PriorityOf(i)}}},"task_data":{"n":{{{i}}}}{{{(stampTasks ? PublishedAtField() : "")}}}}""", sentAt);
        var publishSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

        var deadline = DateTime.UtcNow.AddSeconds(120);
        double succeeded = 0;
        while (DateTime.UtcNow < deadline)
        {
            succeeded = LoadRunNode.Sum(await Scrape(), "celery_task_succeeded_total{") - warmup;
            if (Volatile.Read(ref assigned) >= count && succeeded >= count) break;
            await Task.Delay(50);
        }
        var cpuAfter = (Node: NodeCpu(), Redis: ProcessStats.CpuSeconds(redis.ProcessId ?? 0), Load: ProcessStats.CpuSeconds(Environment.ProcessId));
        var perNode = nodes.Select((n, i) => ProcessStats.CpuSeconds(n.ProcessId) - perNodeBefore[i]).ToArray();
        await sampling.CancelAsync();
        var (samples, sampledMax, sampledOver) = await sampler;
        var lastAssigned = assignedAt.Where(t => t != 0).DefaultIfEmpty(start).Max();
        var allocationSeconds = (lastAssigned - start) / (double)Stopwatch.Frequency;
        var measured = Enumerable.Range(0, count).Where(i => assignedAt[i] != 0).ToArray();
        double LatencyMs(int i) => (assignedAt[i] - sentAt[i]) * 1000.0 / Stopwatch.Frequency;
        var text = await Scrape();

        Console.WriteLine($"published in {publishSeconds:F2} s = {count / publishSeconds:N0} tasks/s");
        Console.WriteLine($"allocated {assigned:N0} of {count:N0} in {allocationSeconds:F2} s = {assigned / allocationSeconds:N0} tasks/s; succeeded (node) {succeeded:N0}");
        if (measured.Length > 0)
        {
            Console.WriteLine($"publish-to-assignment latency at the producer (ms): {Percentiles(measured.Select(LatencyMs).Order().ToArray())}");
            Console.WriteLine("node's allocated_at to the simulated worker's receipt (ms; journal write, publish, Redis, this process): " +
                              Percentiles(measured.Select(i => deliveredAfter[i]).Order().ToArray()));
            // Under a moment's shortage of slots the least urgent tasks wait longest.
            var byPriority = measured.GroupBy(PriorityOf).OrderBy(g => g.Key)
                .Select(g => $"{g.Key}: {Pct(g.Select(LatencyMs).Order().ToArray(), 0.99):F1}");
            Console.WriteLine($"publish-to-assignment p99 by priority (ms): {string.Join(", ", byPriority)}");
        }
        Console.WriteLine("node arrival-to-allocation histogram (measured tasks only): " +
                          HistogramSummary(beforeText, text, "celery_task_allocation_duration_seconds_bucket{"));
        Console.WriteLine("node journal writes (celery_journal_write_seconds): " +
                          HistogramSummary(beforeText, text, "celery_journal_write_seconds_bucket{"));
        if (stampTasks)
            Console.WriteLine("node latency of tasks, published to taken by the intake: " +
                              HistogramSummary(beforeText, text, "celery_redis_pubsub_latency_seconds_bucket{", "channel=\"tasks"));
        if (stampReports)
            Console.WriteLine("node latency of succeeded reports, published to taken by the intake: " +
                              HistogramSummary(beforeText, text, "celery_redis_pubsub_latency_seconds_bucket{", "channel=\"task-status\""));
        Console.WriteLine($"CPU seconds during the run: node {cpuAfter.Node - cpuBefore.Node:F1}, redis {cpuAfter.Redis - cpuBefore.Redis:F1}, " +
                          $"this process (producer and workers) {cpuAfter.Load - cpuBefore.Load:F1} " +
                          $"(wall {allocationSeconds:F1} s on {Environment.ProcessorCount} cores)" +
                          (nodes.Count > 1 ? $"; per node {string.Join(", ", perNode.Select(c => c.ToString("F1", CultureInfo.InvariantCulture)))}" : "") +
                          $"; {(cpuAfter.Node - cpuBefore.Node) * 1e6 / count:F0} us of node CPU per task" +
                          (idleSeconds > 0 ? $", {(cpuAfter.Node - cpuBefore.Node - idleRate * allocationSeconds) * 1e6 / count:F0} us above idle" : ""));
        Console.WriteLine($"rejected {LoadRunNode.Sum(text, "celery_messages_rejected_total{"):N0}, requeued {LoadRunNode.Sum(text, "celery_task_requeued_total{"):N0}, " +
                          $"duplicates {LoadRunNode.Sum(text, "celery_task_duplicates_total{"):N0}, observations dropped {LoadRunNode.Sum(text, "celery_observations_dropped_total"):N0}");
        Console.WriteLine($"pool {pool}: at the workers at most {maxUnfinished} held at an assignment, {overPool} assignments over the pool; " +
                          $"at the node ({samples} samples of /api/workers) at most {sampledMax} unfinished, {sampledOver} samples over the pool");
        var exact = assigned == count && succeeded == count && overPool == 0 && sampledOver == 0;
        Console.WriteLine(exact ? "RESULT: every task allocated once and succeeded" : "RESULT: COUNTS DIFFER");
        return exact ? 0 : 1;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
            current = seen;
    }

    /// <summary>Samples the node's view of every worker every 100 ms until cancelled: how many samples, the most
    /// unfinished tasks one worker had, and how many samples saw a worker over <paramref name="pool"/>.</summary>
    private static async Task<(int Samples, int Max, int Over)> SamplePoolsAsync(HttpClient http, int pool, CancellationToken token)
    {
        var (samples, max, over) = (0, 0, 0);
        while (!token.IsCancellationRequested)
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/workers", token));
                samples++;
                foreach (var w in doc.RootElement.GetProperty("workers").EnumerateArray())
                {
                    var held = w.GetProperty("unfinished_tasks").GetInt32();
                    max = Math.Max(max, held);
                    if (held > pool) over++;
                }
                await Task.Delay(100, token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return (samples, max, over);
    }

    // Tasks sent before one is awaited at full speed: enough to keep the connection's pipeline full.
    private const int FullSpeedBatch = 200;

    private const int WarmupRate = 5_000;

    // A paced run sends a millisecond's worth at a time, so its bursts stay smaller than the pools they feed.
    private static int BatchFor(int rate) => rate == 0 ? FullSpeedBatch : Math.Max(1, (rate + 999) / 1000);

    /// <summary>Publishes <paramref name="count"/> tasks round-robin over the queues at <paramref name="rate"/>
    /// per second (0: as fast as Redis takes them), <paramref name="batch"/> at a time, recording each send time
    /// when asked.</summary>
    // With streams, XADD to the key of the channel's name; else PUBLISH. A paced batch that falls behind its due
    // time is followed at once by the next, so the rate holds although a timer sleeps at least a millisecond.
    private static async Task PublishAsync(ISubscriber subscriber, IDatabase? streams, RedisChannel[] channels, int count,
        int rate, int batch, Func<int, string> payload, long[]? sentAt)
    {
        var start = Stopwatch.GetTimestamp();
        for (var published = 0; published < count;)
        {
            var n = Math.Min(batch, count - published);
            for (var i = published; i < published + n; i++)
            {
                if (sentAt is not null) sentAt[i] = Stopwatch.GetTimestamp();
                var (channel, last) = (channels[i % channels.Length], i == published + n - 1);
                if (streams is not null)
                {
                    var key = (RedisKey)channel.ToString();
                    if (last) await streams.StreamAddAsync(key, "payload", payload(i));
                    else streams.StreamAdd(key, "payload", payload(i), flags: CommandFlags.FireAndForget);
                }
                else if (last) await subscriber.PublishAsync(channel, payload(i));
                else subscriber.Publish(channel, payload(i), CommandFlags.FireAndForget);
            }
            published += n;
            if (rate > 0)
            {
                var due = start + (long)(published / (double)rate * Stopwatch.Frequency);
                var wait = due - Stopwatch.GetTimestamp();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
            }
        }
    }

    private static async Task WaitForWorkersAsync(Func<Task<string>> scrape, int workers)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var text = await scrape();
            if (LoadRunNode.Sum(text, "celery_worker_up{") >= workers) return;
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the simulated workers did not come online");
    }

    private static string TaskIdOf(string json)
    {
        const string key = "\"task_id\":\"";
        var from = json.IndexOf(key, StringComparison.Ordinal) + key.Length;
        return json[from..json.IndexOf('"', from)];
    }

    // Unix seconds to the millisecond, as the wire format carries them: the node's latency may read up to 1 ms high.
    private static string PublishedAtField() =>
        ",\"published_at\":" + (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("F3", CultureInfo.InvariantCulture);

    private static double AllocatedAtOf(string json)
    {
        const string key = "\"allocated_at\":";
        var from = json.IndexOf(key, StringComparison.Ordinal) + key.Length;
        var to = from;
        while (to < json.Length && (char.IsDigit(json[to]) || json[to] is '.' or 'E' or 'e' or '+' or '-')) to++;
        return double.Parse(json.AsSpan(from, to - from), CultureInfo.InvariantCulture);
    }

    // The measured tasks' priorities, 0-9 in turn.
    private static int PriorityOf(int task) => task % 10;

    private static string Percentiles(double[] sorted) =>
        $"p50 {Pct(sorted, 0.50):F2}, p90 {Pct(sorted, 0.90):F2}, p99 {Pct(sorted, 0.99):F2}, max {sorted[^1]:F2}";

    private static double Pct(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    /// <summary>The share of observations under each bucket bound up to 25 ms, summed over queues.</summary>
    private static string HistogramSummary(string before, string after, string family, string? label = null)
    {
        var earlier = Buckets(before, family, label).ToDictionary(b => b.Le, b => b.Count);
        var buckets = Buckets(after, family, label).Select(b => (b.Le, Count: b.Count - earlier.GetValueOrDefault(b.Le))).ToList();
        var total = buckets.FirstOrDefault(b => b.Le == "+Inf").Count;
        if (total == 0) return "no observations";
        var sb = new StringBuilder($"{total:N0} observations; ");
        foreach (var (le, c) in buckets.Where(b => b.Le != "+Inf" && double.Parse(b.Le, CultureInfo.InvariantCulture) <= 0.025))
            sb.Append(CultureInfo.InvariantCulture, $"<= {double.Parse(le, CultureInfo.InvariantCulture) * 1000:0.#} ms: {c / total:P2}; ");
        return sb.ToString();
    }

    private static List<(string Le, double Count)> Buckets(string exposition, string family, string? label)
    {
        return exposition.Split('\n')
            .Where(l => l.StartsWith(family, StringComparison.Ordinal) && (label is null || l.Contains(label, StringComparison.Ordinal)))
            .Select(l =>
            {
                var le = l[(l.IndexOf("le=\"", StringComparison.Ordinal) + 4)..];
                le = le[..le.IndexOf('"')];
                return (Le: le, Count: double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
            })
            .GroupBy(b => b.Le).Select(g => (g.Key, g.Sum(b => b.Count))).ToList();
    }
}
