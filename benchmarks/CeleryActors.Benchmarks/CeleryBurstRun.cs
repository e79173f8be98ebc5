using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The Celery event burst: what a node meets when it comes back to a broker that kept talking. The node is
/// started on a private broker and stopped (SIGSTOP) once subscribed; a burst of real-format events, one per
/// message as a worker without batching sends them (kombu envelope, base64 body, about 700 bytes; 20 workers,
/// 200 task names, 10 queues; every task sent, received, started and succeeded), is published into Redis, which
/// holds it in the node's output buffer; then the node is resumed (SIGCONT) and timed until its counters account
/// for every task. Prints the drain rate, the node's CPU and its peak resident memory (VmHWM).
/// Usage: <c>load-celery --burst [--events N] [--host-dll PATH] [--warm N] [--max-buffered BYTES] [--trace FILE.nettrace] [--perf FILE.data]</c>.
/// </summary>
public static class CeleryBurstRun
{
    private const int Workers = 20, TaskNames = 200, Queues = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        var tasks = RunArgs.IntArg(args, "--events", 200_000) / 4;
        // --warm N: N events through the running node first, so the burst meets code the JIT has optimized, as
        // on a node that has run for a while; without it the burst is a cold start's.
        var warm = RunArgs.IntArg(args, "--warm", 0) / 4;
        Console.WriteLine($"machine: {ProcessStats.Machine()}");
        var messages = Burst(tasks);
        Console.WriteLine($"burst: {tasks * 4:N0} events in {messages.Count:N0} messages, " +
                          $"{messages.Average(m => ((byte[])m.Payload!).Length):F0} bytes each on average");

        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var options = ConfigurationOptions.Parse(redis.ConnectionString);
        options.AllowAdmin = true;
        using var publisher = await ConnectionMultiplexer.ConnectAsync(options);
        // Redis would cut a subscriber off past 32 MB of output held for it; the burst is meant to be held whole.
        await publisher.GetServers()[0].ConfigSetAsync("client-output-buffer-limit", "pubsub 0 0 0");
        var settings = new Dictionary<string, string>
        {
            ["CELERY_BROKER_URL"] = redis.Url.ToString(),
            ["CELERY_WORKER_TIMEOUT"] = "600",
        };
        if (RunArgs.Arg(args, "--max-buffered") is { } maxBuffered) settings["MAX_BUFFERED_BYTES"] = maxBuffered;
        using var node = await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis, settings);
        while (publisher.GetServers()[0].SubscriptionPatternCount() == 0) await Task.Delay(50);
        await Task.Delay(2_000); // past start-up's own work, so the CPU counted below is the burst's
        var subscriber = publisher.GetSubscriber();
        if (warm > 0)
        {
            await PublishAsync(subscriber, Burst(warm));
            while (await node.SumAsync("celery_task_succeeded_total{") < warm) await Task.Delay(100);
            Console.WriteLine($"warmed up with {warm * 4:N0} events");
            await Task.Delay(3_000); // tier-1 code is compiled in the background
        }

        // --trace FILE: a CPU-sampling trace of the node (dotnet-trace) over the fill and the drain.
        using var trace = RunArgs.Arg(args, "--trace") is { } tracePath
            ? Process.Start("dotnet-trace", ["collect", "-p", node.ProcessId.ToString(CultureInfo.InvariantCulture),
                "--profile", "dotnet-sampled-thread-time", "--duration", "00:00:00:20", "-o", tracePath])
            : null;
        // --perf FILE: perf's CPU samples of the node over the fill and the drain (start the run with
        // DOTNET_PerfMapEnabled=1 so perf can name the JIT-compiled methods).
        using var perf = RunArgs.Arg(args, "--perf") is { } perfPath
            ? Process.Start("perf", ["record", "-F", "999", "-g", "-p", node.ProcessId.ToString(CultureInfo.InvariantCulture),
                "-o", perfPath, "--", "sleep", "15"])
            : null;
        if (trace is not null || perf is not null) await Task.Delay(3_000);
        Signal(node.ProcessId, "STOP");
        var publishing = Stopwatch.StartNew();
        await PublishAsync(subscriber, messages);
        Console.WriteLine($"published while the node was stopped: {publishing.Elapsed.TotalSeconds:F2} s; Redis holds " +
                          $"{await HeldForSubscribersMiB(publisher):F0} MiB for it");

        var cpuBefore = ProcessStats.CpuSeconds(node.ProcessId);
        var drain = Stopwatch.StartNew();
        Signal(node.ProcessId, "CONT");
        // First until Redis holds nothing more for the node (or has not lost any for 3 s): a scrape of this burst's
        // series costs the node tens of milliseconds, so scraping every 50 ms from the start would bill the drain for
        // the measurement. Asking Redis costs the node nothing.
        var (held, heldSince) = (double.MaxValue, 0.0);
        while (drain.Elapsed.TotalSeconds - heldSince <= 3)
        {
            var now = await HeldForSubscribersMiB(publisher);
            if (now == 0) break;
            if (now < held) (held, heldSince) = (now, drain.Elapsed.TotalSeconds);
            await Task.Delay(10);
        }
        // Then until every task is counted (what the node still holds in its window is a few milliseconds of work),
        // or the count has not moved for 3 s (messages were dropped).
        double succeeded = 0, seconds = 0;
        while (true)
        {
            var counted = await node.SumAsync("celery_task_succeeded_total{");
            if (counted != succeeded) (succeeded, seconds) = (counted, drain.Elapsed.TotalSeconds);
            if (succeeded >= warm + tasks || drain.Elapsed.TotalSeconds - seconds > 3) break;
            await Task.Delay(20);
        }
        var cpu = ProcessStats.CpuSeconds(node.ProcessId) - cpuBefore;
        await Task.Delay(500); // let a drop or a rejection still on its way be counted

        if (trace is not null) await trace.WaitForExitAsync();
        if (perf is not null) await perf.WaitForExitAsync();
        var scrape = Stopwatch.StartNew();
        var text = await node.Http.GetStringAsync("/metrics");
        Console.WriteLine($"one scrape of /metrics after the burst: {text.Length / 1024:N0} KiB, " +
                          $"{text.Count(c => c == '\n'):N0} lines, {scrape.Elapsed.TotalMilliseconds:F0} ms");
        var sent = LoadRunNode.Sum(text, "celery_task_sent_total{");
        var received = LoadRunNode.Sum(text, "celery_task_received_total{");
        var started = LoadRunNode.Sum(text, "celery_task_started_total{");
        succeeded = LoadRunNode.Sum(text, "celery_task_succeeded_total{");
        var misses = LoadRunNode.Sum(text, "celery_task_memory_misses_total");
        var rejected = LoadRunNode.Sum(text, "celery_messages_rejected_total{");
        var dropped = LoadRunNode.Sum(text, "celery_redis_pubsub_dropped_total{");
        var up = LoadRunNode.Sum(text, "celery_worker_up{");
        Console.WriteLine($"drained {succeeded - warm:N0} of {tasks:N0} tasks in {seconds:F2} s = {4 * (succeeded - warm) / seconds:N0} events/s");
        Console.WriteLine($"node CPU during the drain: {cpu:F2} s ({cpu / seconds:F2} cores); peak RSS (VmHWM) {ProcessStats.PeakRssOf(node.ProcessId):F0} MiB");
        Console.WriteLine($"counters: sent {sent:N0}, received {received:N0}, started {started:N0}, succeeded {succeeded:N0}, " +
                          $"memory misses {misses:N0}, rejected {rejected:N0}, dropped by the node's buffer {dropped:N0}, workers up {up:N0}");
        var all = warm + tasks;
        var exact = sent == all && received == all && started == all && succeeded == all && misses == 0 &&
                    rejected == 0 && dropped == 0 && up == Workers;
        Console.WriteLine(exact ? "RESULT: counters exact" : "RESULT: COUNTS DIFFER");
        return exact ? 0 : 1;
    }

    private static async Task PublishAsync(ISubscriber subscriber, List<(RedisChannel Channel, RedisValue Payload)> messages)
    {
        var pending = new List<Task>(4096);
        foreach (var (channel, payload) in messages)
        {
            pending.Add(subscriber.PublishAsync(channel, payload));
            if (pending.Count == 4096) { await Task.WhenAll(pending); pending.Clear(); }
        }
        await Task.WhenAll(pending);
    }

    private static void Signal(int pid, string signal) =>
        Process.Start("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();

    private static async Task<double> HeldForSubscribersMiB(IConnectionMultiplexer redis)
    {
        var clients = await redis.GetServers()[0].ClientListAsync();
        var text = string.Join("\n", clients.Select(c => c.Raw));
        return text.Split('\n').Where(l => l.Contains("psub=1"))
            .Select(l => l.Split(' ').FirstOrDefault(f => f.StartsWith("omem=")))
            .Sum(f => f is null ? 0 : long.Parse(f[5..], CultureInfo.InvariantCulture)) / (1024.0 * 1024);
    }

    /// <summary>The burst, pre-encoded: per task its sent, received, started and succeeded event, in that order,
    /// tasks interleaved over workers as a busy deployment sends them.</summary>
    private static List<(RedisChannel Channel, RedisValue Payload)> Burst(int tasks)
    {
        var sentChannel = RedisChannel.Literal("/0.celeryev/task.sent");
        var multiChannel = RedisChannel.Literal("/0.celeryev/task.multi");
        var messages = new List<(RedisChannel, RedisValue)>(tasks * 4);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        var clock = 0L;
        for (var i = 0; i < tasks; i++)
        {
            var id = Guid.NewGuid().ToString();
            var name = $"shop.burst.task{i % TaskNames:D3}";
            var queue = $"queue{i % TaskNames % Queues:D2}";
            var worker = $"w{i % Workers:D2}@burst-host";
            var t = now + i * 1e-5;
            messages.Add((sentChannel, Envelope("task.sent", "producer@burst-host", Json(
                ("hostname", "producer@burst-host"), ("utcoffset", 0), ("pid", 4242), ("clock", ++clock), ("uuid", id),
                ("root_id", id), ("parent_id", null), ("name", name), ("args", "(42,)"), ("kwargs", "{}"), ("retries", 0),
                ("eta", null), ("expires", null), ("queue", queue), ("exchange", ""), ("routing_key", queue),
                ("timestamp", t), ("type", "task-sent")), list: false)));
            messages.Add((multiChannel, Envelope("task.multi", worker, Json(
                ("hostname", worker), ("utcoffset", 0), ("pid", 1000 + i % Workers), ("clock", ++clock), ("uuid", id),
                ("name", name), ("args", "(42,)"), ("kwargs", "{}"), ("root_id", id), ("parent_id", null), ("retries", 0),
                ("eta", null), ("expires", null), ("timestamp", t + 0.001), ("type", "task-received")))));
            messages.Add((multiChannel, Envelope("task.multi", worker, Json(
                ("hostname", worker), ("utcoffset", 0), ("pid", 1000 + i % Workers), ("clock", ++clock), ("uuid", id),
                ("timestamp", t + 0.002), ("type", "task-started")))));
            messages.Add((multiChannel, Envelope("task.multi", worker, Json(
                ("hostname", worker), ("utcoffset", 0), ("pid", 1000 + i % Workers), ("clock", ++clock), ("uuid", id),
                ("result", "'ok'"), ("runtime", 0.0123 + i % 7 * 0.01), ("timestamp", t + 0.014), ("type", "task-succeeded")))));
        }
        return messages;
    }

    // kombu's JSON: Python's separators (", " and ": "), fields in the order Celery writes them.
    private static string Json(params (string Key, object? Value)[] fields)
    {
        var text = new StringBuilder("{");
        foreach (var (key, value) in fields)
        {
            if (text.Length > 1) text.Append(", ");
            text.Append(JsonSerializer.Serialize(key)).Append(": ").Append(value switch
            {
                null => "null",
                string s => JsonSerializer.Serialize(s),
                double d => d.ToString("R", CultureInfo.InvariantCulture),
                _ => Convert.ToString(value, CultureInfo.InvariantCulture),
            });
        }
        return text.Append('}').ToString();
    }

    private static RedisValue Envelope(string routingKey, string hostname, string body, bool list = true)
    {
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(list ? $"[{body}]" : body));
        return Encoding.UTF8.GetBytes(
            $"{{\"body\": \"{encoded}\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", " +
            $"\"headers\": {{\"hostname\": \"{hostname}\"}}, \"properties\": {{\"delivery_mode\": 1, \"delivery_info\": " +
            $"{{\"exchange\": \"celeryev\", \"routing_key\": \"{routingKey}\"}}, \"priority\": 0, \"body_encoding\": \"base64\", " +
            $"\"delivery_tag\": \"{Guid.NewGuid()}\"}}}}");
    }
}
