using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>Publishes tasks on <c>tasks:{queue}</c> (wire format v1), round-robin over the queues; with
/// <paramref name="streamed"/>, XADDs each to the stream of that name instead (field <c>payload</c>).</summary>
internal sealed class FailoverProducer(ISubscriber subscriber, IDatabase database, string[] queues, bool streamed)
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
            var wait = start + (long)((i + 1) / (double)rate * Stopwatch.Frequency) - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), token); }
                catch (OperationCanceledException) { }
            }
        }
    });
}
