using System.Diagnostics;
using System.Globalization;
using CeleryActors.Redis;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>
/// The label-flood run: a private redis-server, a host node with the default caps (METRICS_LABEL_TTL shortened so
/// the run ends), and a flood of task failures with random names, queues and exception types on the metrics
/// channel. It reports the node's peak resident memory, the series each family holds against its cap, the time a
/// scrape takes while the series are at the cap, and whether a real task name published two TTLs after the
/// flood shows up under its own name.
/// Usage: <c>label-flood [--names 100000] [--queues 10] [--exceptions 10] [--messages 1000000] [--seconds 60]
/// [--ttl 20] [--max-series 10000] [--host-dll PATH]</c>.
/// </summary>
public static class LabelFloodRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        var names = RunArgs.IntArg(args, "--names", 100_000);
        var queues = RunArgs.IntArg(args, "--queues", 10);
        var exceptions = RunArgs.IntArg(args, "--exceptions", 10);
        var messages = RunArgs.IntArg(args, "--messages", 1_000_000);
        var seconds = RunArgs.IntArg(args, "--seconds", 60);
        var ttl = RunArgs.IntArg(args, "--ttl", 20);
        var maxSeries = RunArgs.IntArg(args, "--max-series", 10_000);
        Console.WriteLine($"machine: {ProcessStats.Machine()}");
        Console.WriteLine($"flooding {messages:N0} failures over {seconds} s: {names:N0} names x {queues} queues x {exceptions} exceptions; " +
                          $"METRICS_MAX_SERIES={maxSeries}, METRICS_LABEL_TTL={ttl}");

        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        using var node = await LoadRunNode.StartAsync(RunArgs.Arg(args, "--host-dll"), redis, new Dictionary<string, string>
        {
            ["METRICS_MAX_SERIES"] = maxSeries.ToString(CultureInfo.InvariantCulture),
            ["METRICS_LABEL_TTL"] = ttl.ToString(CultureInfo.InvariantCulture),
        });
        using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var subscriber = publisher.GetSubscriber();
        var channel = RedisChannel.Literal("metrics");

        node.StartSampling();
        var random = new Random(1);
        var publishSeconds = await Publisher.PublishPacedAsync(subscriber, channel, messages, messages / Math.Max(1, seconds), _ =>
            $$"""{"type":"task_execution","task_name":"junk-{{random.Next(names)}}","queue":"q{{random.Next(queues)}}","duration":0.{{random.Next(1, 99)}},"status":"failure","exception":"E{{random.Next(exceptions)}}"}""");
        // Handled, read off the pub/sub counter: the task series of names that went idle mid-flood are gone, with
        // their counts, by design.
        double handled = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && (handled = await node.SumAsync("celery_redis_pubsub_messages_total{channel=\"metrics\"")) < messages)
            await Task.Delay(100);
        var failed = await node.SumAsync("celery_task_failed_total{");

        // Scrapes at the cap: the slowest of ten, and the series counts of the last.
        var scrapes = new List<double>();
        var text = "";
        for (var i = 0; i < 10; i++)
        {
            var started = Stopwatch.GetTimestamp();
            text = await node.Http.GetStringAsync("/metrics");
            scrapes.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        var series = text.Split('\n').Where(l => l.StartsWith("celery_metric_series{", StringComparison.Ordinal))
            .Select(l => (Family: l[(l.IndexOf('"') + 1)..l.LastIndexOf('"')], Count: double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)))
            .ToList();
        var overCap = series.Where(s => s.Count > maxSeries + 1).ToList();

        // Two TTLs of quiet, then a real name.
        await Task.Delay(TimeSpan.FromSeconds(2 * ttl));
        await subscriber.PublishAsync(channel, """{"type":"task_execution","task_name":"real.task","queue":"real","duration":0.5,"status":"success"}""");
        var realSeen = false;
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !(realSeen = (await node.SumAsync("celery_task_succeeded_total{task_name=\"real.task\",queue=\"real\"}")) == 1))
            await Task.Delay(100);
        var junkLeft = (await node.Http.GetStringAsync("/metrics")).Split('\n').Count(l => l.Contains("junk-", StringComparison.Ordinal));
        var memory = await node.StopSamplingAsync();

        scrapes.Sort();
        Console.WriteLine($"published in {publishSeconds:F1} s = {messages / publishSeconds:N0} msg/s; node handled {handled:N0}, " +
                          $"its failure series hold {failed:N0} (the rest went with names idle for the TTL mid-flood)");
        Console.WriteLine("series per family at the end of the flood: " + string.Join(", ", series.Select(s => $"{s.Family}={s.Count:N0}")));
        Console.WriteLine($"scrape at the cap: median {scrapes[scrapes.Count / 2]:F1} ms, slowest {scrapes[^1]:F1} ms, {text.Length / 1024.0 / 1024:F1} MiB of text");
        Console.WriteLine($"node RSS peak {node.PeakRssMiB:F0} MiB; over time: {memory}");
        Console.WriteLine($"two TTLs later: junk lines left {junkLeft}, real name under its own name: {realSeen}");
        var ok = handled == messages && overCap.Count == 0 && realSeen && junkLeft == 0;
        Console.WriteLine(ok ? "RESULT: bounded, every message handled, the flood passed" : "RESULT: FAILED" +
            (overCap.Count > 0 ? $" (over the cap: {string.Join(", ", overCap.Select(s => s.Family))})" : ""));
        return ok ? 0 : 1;
    }
}
