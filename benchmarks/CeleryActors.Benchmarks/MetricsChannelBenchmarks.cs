using System.Text;
using BenchmarkDotNet.Attributes;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Metrics;
using Prometheus;

namespace CeleryActors.Benchmarks;

/// <summary>
/// Parse-and-record of one metrics-channel message, on one thread: the JSON is parsed, the counters are
/// incremented and the duration is observed into its histogram series, as the subscription and the recorder do
/// per message (minus the actor hops, measured by the load run).
/// </summary>
[MemoryDiagnoser]
public class MetricsChannelBenchmarks
{
    // Stamped now: a publication time weeks away is rejected as implausible.
    private static readonly string PublishedAt =
        Math.Round(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0, 2).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private readonly byte[][] _taskExecutions = Enumerable.Range(0, 64).Select(i => Encoding.UTF8.GetBytes(
        $$"""{"type":"task_execution","task_name":"shop.task{{i % 16}}","queue":"queue{{i % 4}}","duration":0.{{i + 10}},"status":"{{(i % 5 == 0 ? "failure\",\"exception\":\"KeyError" : "success")}}","published_at":{{PublishedAt}}}""")).ToArray();

    private readonly byte[] _queueLength = Encoding.UTF8.GetBytes("""{"type":"queue_length","queue":"default","length":42}""");
    private CeleryMetrics _metrics = null!;
    private int _next;

    [GlobalSetup]
    public void Setup() => _metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), 2_000);

    [Benchmark(OperationsPerInvoke = 64)]
    public void ParseAndRecordTaskExecution()
    {
        for (var i = 0; i < 64; i++)
        {
            var result = MetricsMessageParser.Parse(_taskExecutions[(_next++) & 63]);
            var execution = (TrackTaskExecution)result.Message!;
            _metrics.CountTaskExecution(execution);
            _metrics.TaskDurationSeries(execution.TaskName, execution.Queue).Observe(execution.DurationSeconds);
            _metrics.CountPubSubMessage("metrics", result.MessageType);
        }
    }

    [Benchmark]
    public object? ParseTaskExecution() => MetricsMessageParser.Parse(_taskExecutions[(_next++) & 63]).Message;

    [Benchmark]
    public void ParseAndRecordQueueLength()
    {
        var update = (UpdateQueueLength)MetricsMessageParser.Parse(_queueLength).Message!;
        _metrics.SetQueueLength(update.Queue, update.Length);
    }
}
