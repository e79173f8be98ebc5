using System.Diagnostics;
using System.Text;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The metrics-channel load run: a private redis-server, a host node process on it, and this process as a
/// separate publisher flooding the <c>metrics</c> channel on loopback at a paced rate. It waits until the node's
/// counters account for every message, and samples the node's resident memory throughout.
/// Usage: <c>load-metrics [--count N] [--rate PER_SECOND] [--host-dll PATH]</c>.
/// </summary>
public static class MetricsLoadRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = RunArgs.IntArg(args, "--count", 3_000_000);
        var rate = RunArgs.IntArg(args, "--rate", 120_000);
        Console.WriteLine($"machine: {ProcessStats.Machine()}");
        Console.WriteLine($"publishing {count:N0} messages at {(rate == 0 ? "full speed" : $"{rate:N0}/s")}");

        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        using var node = await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis);
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var subscriber = publisher.GetSubscriber();
        var channel = RedisChannel.Literal("metrics");
        var payloads = Payloads();

        node.StartSampling();
        var start = Stopwatch.GetTimestamp();
        var publishSeconds = await Publisher.PublishPacedAsync(subscriber, channel, count, rate, i => payloads[i & 63]);

        double handled = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            handled = await node.SumAsync("celery_redis_pubsub_messages_total{channel=\"metrics\"");
            if (handled >= count) break;
            await Task.Delay(50);
        }
        var totalSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        await Task.Delay(1_000); // one more memory sample after the run
        var memory = await node.StopSamplingAsync();

        var text = await node.Http.GetStringAsync("/metrics");
        var started = LoadRunNode.Sum(text, "celery_task_started_total{");
        var succeeded = LoadRunNode.Sum(text, "celery_task_succeeded_total{");
        var failed = LoadRunNode.Sum(text, "celery_task_failed_total{");
        var observed = LoadRunNode.Sum(text, "celery_task_duration_seconds_count{");
        var dropped = LoadRunNode.Sum(text, "celery_observations_dropped_total");
        var rejected = LoadRunNode.Sum(text, "celery_messages_rejected_total{");
        var resubscribed = LoadRunNode.Sum(text, "celery_redis_resubscriptions_total");

        Console.WriteLine($"published in {publishSeconds:F2} s = {count / publishSeconds:N0} msg/s");
        Console.WriteLine($"node handled {handled:N0} of {count:N0} in {totalSeconds:F2} s = {handled / totalSeconds:N0} msg/s");
        Console.WriteLine($"counters: started {started:N0}, succeeded {succeeded:N0}, failed {failed:N0}, " +
                          $"duration observations {observed:N0}, dropped {dropped:N0}, rejected {rejected:N0}, resubscriptions {resubscribed:N0}");
        Console.WriteLine("node RSS (MiB) over time: " + memory);
        var exact = handled == count && started == count && succeeded + failed == count && observed + dropped == count;
        Console.WriteLine(exact ? "RESULT: nothing lost, counters equal what was sent" : "RESULT: COUNTS DIFFER");
        return exact ? 0 : 1;
    }

    private static RedisValue[] Payloads() => Enumerable.Range(0, 64).Select(i => (RedisValue)Encoding.UTF8.GetBytes(
        $$"""{"type":"task_execution","task_name":"load.task{{i % 16}}","queue":"load{{i % 4}}","duration":0.{{i + 10}},"status":"{{(i % 5 == 0 ? "failure\",\"exception\":\"TimeoutError" : "success")}}"}""")).ToArray();
}

/// <summary>A paced publisher on one connection: fire-and-forget in batches, each batch awaited once.</summary>
public static class Publisher
{
    /// <summary>Publishes <paramref name="count"/> messages at <paramref name="rate"/> per second (0: full speed);
    /// returns the seconds it took.</summary>
    public static async Task<double> PublishPacedAsync(ISubscriber subscriber, RedisChannel channel, int count, int rate,
        Func<int, RedisValue> message, Func<int, RedisChannel>? channelOf = null)
    {
        const int batch = 1_000;
        var published = 0;
        var start = Stopwatch.GetTimestamp();
        while (published < count)
        {
            var n = Math.Min(batch, count - published);
            for (var i = 0; i < n - 1; i++)
                subscriber.Publish(channelOf?.Invoke(published + i) ?? channel, message(published + i), CommandFlags.FireAndForget);
            await subscriber.PublishAsync(channelOf?.Invoke(published + n - 1) ?? channel, message(published + n - 1));
            published += n;
            if (rate <= 0) continue;
            var due = start + (long)(published / (double)rate * Stopwatch.Frequency);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
