using System.Diagnostics;
using System.Globalization;
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
        var count = IntArg(args, "--count", 3_000_000);
        var rate = IntArg(args, "--rate", 120_000);
        var hostDll = StringArg(args, "--host-dll") ?? FindHostDll();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {CpuModel()}, {MemoryGiB():F0} GiB; .NET {Environment.Version}");
        Console.WriteLine($"publishing {count:N0} messages at {(rate == 0 ? "full speed" : $"{rate:N0}/s")}; node: {hostDll}");

        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        var metricsPort = FreePort.Find();
        using var node = StartNode(hostDll, redis, metricsPort);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{metricsPort}") };
        try
        {
            await WaitReadyAsync(http, node);
            using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
            var subscriber = publisher.GetSubscriber();
            var channel = RedisChannel.Literal("metrics");
            var payloads = Payloads();

            var memory = new List<(double Seconds, long RssKiB)>();
            using var sampling = new CancellationTokenSource();
            var clock = Stopwatch.StartNew();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    memory.Add((clock.Elapsed.TotalSeconds, Rss(node.Id)));
                    try { await Task.Delay(500, sampling.Token); } catch (OperationCanceledException) { }
                }
            });

            const int batch = 1_000;
            var published = 0;
            var start = Stopwatch.GetTimestamp();
            while (published < count)
            {
                var n = Math.Min(batch, count - published);
                for (var i = 0; i < n - 1; i++)
                    subscriber.Publish(channel, payloads[(published + i) & 63], CommandFlags.FireAndForget);
                await subscriber.PublishAsync(channel, payloads[(published + n - 1) & 63]);
                published += n;
                if (rate > 0)
                {
                    var due = start + (long)(published / (double)rate * Stopwatch.Frequency);
                    var wait = due - Stopwatch.GetTimestamp();
                    if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
                }
            }
            var publishSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

            double handled = 0;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline)
            {
                handled = Sum(await http.GetStringAsync("/metrics"), "celery_redis_pubsub_messages_total{channel=\"metrics\"");
                if (handled >= count) break;
                await Task.Delay(50);
            }
            var totalSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            await Task.Delay(1_000); // one more memory sample after the run
            sampling.Cancel();
            await sampler;

            var text = await http.GetStringAsync("/metrics");
            var started = Sum(text, "celery_task_started_total{");
            var succeeded = Sum(text, "celery_task_succeeded_total{");
            var failed = Sum(text, "celery_task_failed_total{");
            var observed = Sum(text, "celery_task_duration_seconds_count{");
            var dropped = Sum(text, "celery_observations_dropped_total");
            var rejected = Sum(text, "celery_messages_rejected_total{");
            var resubscribed = Sum(text, "celery_redis_resubscriptions_total");

            Console.WriteLine($"published in {publishSeconds:F2} s = {count / publishSeconds:N0} msg/s");
            Console.WriteLine($"node handled {handled:N0} of {count:N0} in {totalSeconds:F2} s = {handled / totalSeconds:N0} msg/s");
            Console.WriteLine($"counters: started {started:N0}, succeeded {succeeded:N0}, failed {failed:N0}, " +
                              $"duration observations {observed:N0}, dropped {dropped:N0}, rejected {rejected:N0}, resubscriptions {resubscribed:N0}");
            Console.WriteLine("node RSS (MiB) over time: " + string.Join(", ",
                memory.Where((_, i) => i % Math.Max(1, memory.Count / 12) == 0 || i == memory.Count - 1)
                    .Select(m => $"{m.Seconds:F0}s={m.RssKiB / 1024.0:F0}")));
            var exact = handled == count && started == count && succeeded + failed == count && observed + dropped == count;
            Console.WriteLine(exact ? "RESULT: nothing lost, counters equal what was sent" : "RESULT: COUNTS DIFFER");
            return exact ? 0 : 1;
        }
        finally
        {
            if (!node.HasExited)
            {
                Process.Start("kill", ["-TERM", node.Id.ToString()])?.WaitForExit();
                if (!node.WaitForExit(15_000)) node.Kill(entireProcessTree: true);
            }
        }
    }

    private static RedisValue[] Payloads() => Enumerable.Range(0, 64).Select(i => (RedisValue)Encoding.UTF8.GetBytes(
        $$"""{"type":"task_execution","task_name":"load.task{{i % 16}}","queue":"load{{i % 4}}","duration":0.{{i + 10}},"status":"{{(i % 5 == 0 ? "failure\",\"exception\":\"TimeoutError" : "success")}}"}""")).ToArray();

    private static Process StartNode(string hostDll, RedisServerProcess redis, int metricsPort)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(hostDll);
        info.Environment["REDIS_URL"] = redis.Url.ToString();
        info.Environment["METRICS_HOST"] = "127.0.0.1";
        info.Environment["METRICS_PORT"] = metricsPort.ToString(CultureInfo.InvariantCulture);
        info.Environment["CLUSTER_HOSTNAME"] = "127.0.0.1";
        info.Environment["CLUSTER_PORT"] = "0";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("node: " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitReadyAsync(HttpClient http, Process node)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !node.HasExited)
        {
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the host node did not become ready");
    }

    private static double Sum(string exposition, string prefix) => exposition.Split('\n')
        .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static long Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:"));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch (IOException) { return 0; }
    }

    private static string FindHostDll()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CeleryActors.sln")))
                return Path.Combine(dir.FullName, "src", "Host", "bin", "Release", "net10.0", "CeleryActors.Host.dll");
        throw new InvalidOperationException("run from inside the repository, or pass --host-dll");
    }

    private static string CpuModel() =>
        File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':')[1].Trim() ?? "unknown CPU";

    private static double MemoryGiB() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);

    private static int IntArg(string[] args, string name, int fallback) =>
        StringArg(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static string? StringArg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
