using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
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
            Nodes: LoadRunNode.IntArg(args, "--nodes", 3),
            Queues: LoadRunNode.IntArg(args, "--queues", 10),
            Rate: LoadRunNode.IntArg(args, "--rate", 200),
            Workers: LoadRunNode.IntArg(args, "--workers", 4),
            WarmupSeconds: LoadRunNode.IntArg(args, "--warmup", 10),
            HostDll: LoadRunNode.Arg(args, "--host-dll"),
            Streamed: LoadRunNode.StreamedIntake(args));
        var runs = LoadRunNode.IntArg(args, "--runs", 3);
        if (options.Nodes < 2 || options.Queues < 1 || options.Rate < 1 || options.Workers < 1 || runs < 1)
        {
            Console.Error.WriteLine("cluster-failover needs --nodes >= 2 and positive --queues, --rate, --workers, --runs");
            return 2;
        }
        Console.WriteLine("machine: " + LoadRunNode.Machine());
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
        var workers = new SimulatedWorkers(mux.GetSubscriber(), queueNames, o.Workers);
        await workers.StartAsync();
        var producer = new Producer(mux.GetSubscriber(), mux.GetDatabase(), queueNames, o.Streamed);
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
    private static List<(string Queue, double? Seconds)> Stalled(IReadOnlyCollection<Assignment> log, string[] queues, long killAt)
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

    private sealed record Assignment(long At, string Queue, string TaskId, int Attempt);

    /// <summary>Publishes tasks on <c>tasks:{queue}</c> (wire format v1), round-robin over the queues; with
    /// <paramref name="streamed"/>, XADDs each to the stream of that name instead (field <c>payload</c>).</summary>
    private sealed class Producer(ISubscriber subscriber, IDatabase database, string[] queues, bool streamed)
    {
        private int _published;

        /// <summary>Tasks published by <see cref="RunAsync"/> so far; their ids are the prefix and 0..N-1.</summary>
        public int Published => Volatile.Read(ref _published);

        public Task PublishAsync(int queue, string taskId)
        {
            var name = "tasks:" + queues[queue];
            var task = $$"""{"task_name":"failover.task","task_id":"{{taskId}}","published_at":{{(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString(CultureInfo.InvariantCulture)}}}""";
            return streamed
                ? database.StreamAddAsync(name, "payload", task)
                : subscriber.PublishAsync(RedisChannel.Literal(name), task);
        }

        /// <summary>Publishes at <paramref name="rate"/> per second until cancelled.</summary>
        public Task RunAsync(string prefix, int rate, CancellationToken token) => Task.Run(async () =>
        {
            var start = Stopwatch.GetTimestamp();
            while (!token.IsCancellationRequested)
            {
                var i = _published;
                await PublishAsync(i % queues.Length, prefix + i.ToString(CultureInfo.InvariantCulture));
                Volatile.Write(ref _published, i + 1);
                var wait = start + (long)((i + 1) / (double)rate * Ticks) - Stopwatch.GetTimestamp();
                if (wait > 0)
                {
                    try { await Task.Delay(TimeSpan.FromSeconds(wait / Ticks), token); }
                    catch (OperationCanceledException) { }
                }
            }
        });
    }

    /// <summary>Workers of wire format v1 over Redis: each registers for every queue (pool 1,000), heartbeats every
    /// second, and answers each assignment with <c>received</c> then <c>succeeded</c>; every assignment is logged.</summary>
    private sealed class SimulatedWorkers(ISubscriber subscriber, string[] queues, int count)
    {
        private static readonly RedisChannel Control = RedisChannel.Literal("workers:control");
        private static readonly RedisChannel Status = RedisChannel.Literal("task-status");
        private readonly string[] _names = Enumerable.Range(0, count).Select(w => $"fo-worker{w}").ToArray();
        private readonly ConcurrentQueue<Assignment> _log = new();
        private readonly ConcurrentDictionary<string, (int First, int Later)> _byTask = new();
        private readonly ConcurrentDictionary<string, long> _lastByQueue = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly List<ChannelMessageQueue> _channels = [];
        private Task _heartbeats = Task.CompletedTask;
        private int _malformed;

        public IReadOnlyCollection<Assignment> Assignments => _log.ToArray();

        public int Malformed => Volatile.Read(ref _malformed);

        public bool WasAssigned(string taskId) => _byTask.ContainsKey(taskId);

        public long LastAssignedAt(string queue) => _lastByQueue.GetValueOrDefault(queue);

        public int CountAssigned(string prefix, int count) =>
            Enumerable.Range(0, count).Count(i => _byTask.ContainsKey(prefix + i.ToString(CultureInfo.InvariantCulture)));

        public (int Distinct, int DuplicateFirst, int Redeliveries) Tally(string prefix, int count)
        {
            var seen = Enumerable.Range(0, count)
                .Select(i => _byTask.TryGetValue(prefix + i.ToString(CultureInfo.InvariantCulture), out var c) ? c : ((int, int)?)null)
                .Where(c => c is not null).Select(c => c!.Value).ToList();
            return (seen.Count, seen.Sum(c => Math.Max(0, c.Item1 - 1)), seen.Sum(c => c.Item2));
        }

        public async Task StartAsync()
        {
            var queueList = string.Join(",", queues.Select(q => $"\"{q}\""));
            foreach (var name in _names)
            {
                var channel = await subscriber.SubscribeAsync(RedisChannel.Literal("worker:" + name));
                channel.OnMessage(m => OnAssignment(name, (string)m.Message!));
                _channels.Add(channel);
                await subscriber.PublishAsync(Control,
                    $$"""{"type":"register","worker":"{{name}}","queues":[{{queueList}}],"pool_size":1000}""");
            }
            _heartbeats = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    foreach (var name in _names)
                        subscriber.Publish(Control, $$"""{"type":"heartbeat","worker":"{{name}}"}""", CommandFlags.FireAndForget);
                    try { await Task.Delay(1_000, _stop.Token); }
                    catch (OperationCanceledException) { }
                }
            });
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _heartbeats;
            foreach (var channel in _channels) await channel.UnsubscribeAsync();
        }

        private void OnAssignment(string worker, string json)
        {
            var at = Stopwatch.GetTimestamp();
            string id;
            try
            {
                using var doc = JsonDocument.Parse(json);
                var root = doc.RootElement;
                if (root.GetProperty("type").GetString() != "assignment") return;
                id = root.GetProperty("task_id").GetString()!;
                var queue = root.GetProperty("queue").GetString()!;
                var attempt = root.GetProperty("attempt").GetInt32();
                _log.Enqueue(new Assignment(at, queue, id, attempt));
                _byTask.AddOrUpdate(id, _ => attempt == 1 ? (1, 0) : (0, 1),
                    (_, c) => attempt == 1 ? (c.First + 1, c.Later) : (c.First, c.Later + 1));
                _lastByQueue.AddOrUpdate(queue, at, (_, old) => Math.Max(old, at));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                Interlocked.Increment(ref _malformed);
                return;
            }
            subscriber.Publish(Status, $$"""{"task_id":"{{id}}","worker":"{{worker}}","status":"received"}""", CommandFlags.FireAndForget);
            subscriber.Publish(Status, $$"""{"task_id":"{{id}}","worker":"{{worker}}","status":"succeeded","runtime":0.001}""", CommandFlags.FireAndForget);
        }
    }
}
