using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace CeleryActors.Benchmarks;

/// <summary>An assignment a simulated worker got, at <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
internal sealed record FailoverAssignment(long At, string Queue, string TaskId, int Attempt);

/// <summary>Workers of wire format v1 over Redis: each registers for every queue (pool 1,000), heartbeats every
/// second, and answers each assignment with <c>received</c> then <c>succeeded</c>; every assignment is logged.</summary>
internal sealed class FailoverWorkers(ISubscriber subscriber, string[] queues, int count)
{
    private static readonly RedisChannel Control = RedisChannel.Literal("workers:control");
    private static readonly RedisChannel Status = RedisChannel.Literal("task-status");
    private readonly string[] _names = Enumerable.Range(0, count).Select(w => $"fo-worker{w}").ToArray();
    private readonly ConcurrentQueue<FailoverAssignment> _log = new();
    private readonly ConcurrentDictionary<string, (int First, int Later)> _byTask = new();
    private readonly ConcurrentDictionary<string, long> _lastByQueue = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<ChannelMessageQueue> _channels = [];
    private Task _heartbeats = Task.CompletedTask;
    private int _malformed;

    public IReadOnlyCollection<FailoverAssignment> Assignments => _log.ToArray();

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
            _log.Enqueue(new FailoverAssignment(at, queue, id, attempt));
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
