using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The Celery event ingestion load run: a private redis-server as the broker, a host node watching it, and this
/// process replaying Celery events onto the event channels the way workers publish them (task-sent on its own
/// channel, received/started/succeeded batched as JSON lists on <c>task.multi</c>, heartbeats with a running
/// <c>processed</c> count), for 100 workers, 1,000 task names and 50 queues. It waits until the counters
/// account for every task, then times scrapes of <c>/metrics</c> at that cardinality.
/// Usage: <c>load-celery [--tasks N] [--rate EVENTS_PER_SECOND] [--host-dll PATH]</c>; with <c>--burst</c>, the
/// stop-fill-resume burst of <see cref="CeleryBurstRun"/>.
/// </summary>
public static class CeleryLoadRun
{
    private const int Workers = 100, TaskNames = 1_000, Queues = 50, TasksPerBatch = 4;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("--burst")) return await CeleryBurstRun.RunAsync(args);
        var tasks = RunArgs.IntArg(args, "--tasks", 150_000) / TasksPerBatch * TasksPerBatch;
        var rate = RunArgs.IntArg(args, "--rate", 60_000);
        Console.WriteLine($"machine: {ProcessStats.Machine()}");
        var (messages, events) = Replay(tasks);
        Console.WriteLine($"replaying {tasks:N0} tasks = {events:N0} events in {messages.Count:N0} messages at " +
                          $"{(rate == 0 ? "full speed" : $"{rate:N0} events/s")}");

        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        using var node = await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis, new Dictionary<string, string>
        {
            ["CELERY_BROKER_URL"] = redis.Url.ToString(),
            ["CELERY_WORKER_TIMEOUT"] = "60",
        });
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var subscriber = publisher.GetSubscriber();
        // The node subscribes once its singleton is up; wait for that before replaying.
        while (await redis.PingAsync() && publisher.GetServers()[0].SubscriptionPatternCount() == 0) await Task.Delay(50);

        node.StartSampling();
        var cpuBefore = ProcessStats.CpuSeconds(node.ProcessId);
        var start = Stopwatch.GetTimestamp();
        var messageRate = rate == 0 ? 0 : (int)(rate * (double)messages.Count / events);
        var publishSeconds = await Publisher.PublishPacedAsync(subscriber, default, messages.Count, messageRate,
            i => messages[i].Payload, i => messages[i].Channel);

        double succeeded = 0;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            succeeded = await node.SumAsync("celery_task_succeeded_total{");
            if (succeeded >= tasks) break;
            await Task.Delay(50);
        }
        var totalSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = ProcessStats.CpuSeconds(node.ProcessId) - cpuBefore;
        await Task.Delay(1_000);
        var memory = await node.StopSamplingAsync();

        var text = await node.Http.GetStringAsync("/metrics");
        var started = LoadRunNode.Sum(text, "celery_task_started_total{");
        var lost = LoadRunNode.Sum(text, "celery_events_lost_total{");
        var misses = LoadRunNode.Sum(text, "celery_task_memory_misses_total");
        var rejected = LoadRunNode.Sum(text, "celery_messages_rejected_total{");
        var up = LoadRunNode.Sum(text, "celery_worker_up{");
        var dropped = LoadRunNode.Sum(text, "celery_redis_pubsub_dropped_total{");
        var resubscribed = LoadRunNode.Sum(text, "celery_broker_resubscriptions_total");

        var scrapes = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var clock = Stopwatch.StartNew();
            var body = await node.Http.GetStringAsync("/metrics");
            scrapes.Add(clock.Elapsed.TotalMilliseconds);
            if (i == 0) Console.WriteLine($"exposition: {body.Length / 1024:N0} KiB, {body.Count(c => c == '\n'):N0} lines");
        }
        scrapes.Sort();

        Console.WriteLine($"published in {publishSeconds:F2} s = {events / publishSeconds:N0} events/s");
        Console.WriteLine($"node counted {succeeded:N0} of {tasks:N0} tasks in {totalSeconds:F2} s = {events * (succeeded / tasks) / totalSeconds:N0} events/s");
        Console.WriteLine($"counters: started {started:N0}, succeeded {succeeded:N0}, lost {lost:N0}, memory misses {misses:N0}, rejected {rejected:N0}, workers up {up:N0}; " +
                          $"messages dropped by the node's buffer {dropped:N0}, broker resubscriptions {resubscribed:N0}");
        Console.WriteLine($"node CPU: {cpu:F2} s = {cpu / (events / 100_000.0):F2} CPU-s per 100,000 events ({cpu / totalSeconds:F2} cores)");
        Console.WriteLine("node RSS (MiB) over time: " + memory);
        Console.WriteLine($"scrape of /metrics: p50 {scrapes[25]:F1} ms, p99 {scrapes[49]:F1} ms (max of 50), min {scrapes[0]:F1} ms");
        var exact = started == tasks && succeeded == tasks && lost == 0 && misses == 0 && rejected == 0 && up == Workers;
        Console.WriteLine(exact ? "RESULT: counters exact" : "RESULT: COUNTS DIFFER");
        return exact ? 0 : 1;
    }

    /// <summary>The messages to replay, pre-encoded so the publisher spends its time publishing.</summary>
    private static (List<(RedisChannel Channel, RedisValue Payload)> Messages, long Events) Replay(int tasks)
    {
        var messages = new List<(RedisChannel, RedisValue)>(tasks / TasksPerBatch * 5 + tasks / 20);
        var sentChannel = RedisChannel.Literal("/0.celeryev/task.sent");
        var multiChannel = RedisChannel.Literal("/0.celeryev/task.multi");
        var heartbeatChannel = RedisChannel.Literal("/0.celeryev/worker.heartbeat");
        var processed = new long[Workers];
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        long events = 0;
        for (var batch = 0; batch < tasks / TasksPerBatch; batch++)
        {
            var worker = $"worker{batch % Workers}@loadhost";
            var multi = new List<object>();
            for (var j = 0; j < TasksPerBatch; j++)
            {
                var i = batch * TasksPerBatch + j;
                var id = $"task-{i:D9}";
                var nameIndex = i % TaskNames;
                var name = $"load.task{nameIndex:D4}";
                messages.Add((sentChannel, Envelope(new { type = "task-sent", uuid = id, hostname = "producer@loadhost", timestamp = now, name, queue = $"queue{nameIndex % Queues:D2}" }, "task.sent")));
                multi.Add(new { type = "task-received", uuid = id, hostname = worker, timestamp = now, name });
                multi.Add(new { type = "task-started", uuid = id, hostname = worker, timestamp = now });
                multi.Add(new { type = "task-succeeded", uuid = id, hostname = worker, timestamp = now, runtime = 0.05 + j * 0.1 });
                events += 4;
            }
            processed[batch % Workers] += TasksPerBatch;
            messages.Add((multiChannel, Envelope(multi, "task.multi")));
            if (batch % 250 == 0)
                for (var w = 0; w < Workers; w++, events++)
                    messages.Add((heartbeatChannel, Envelope(new { type = "worker-heartbeat", hostname = $"worker{w}@loadhost", timestamp = now, freq = 2.0, active = 0, processed = processed[w] }, "worker.heartbeat")));
        }
        return (messages, events);
    }

    private static RedisValue Envelope(object body, string routingKey) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
    {
        ["body"] = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(body)),
        ["content-encoding"] = "utf-8",
        ["content-type"] = "application/json",
        ["headers"] = new { hostname = "loadhost" },
        ["properties"] = new Dictionary<string, object>
        {
            ["delivery_info"] = new { exchange = "celeryev", routing_key = routingKey },
            ["body_encoding"] = "base64",
        },
    });
}
