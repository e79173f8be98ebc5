using System.Collections.Concurrent;
using System.Text.Json;
using StackExchange.Redis;

namespace CeleryActors.Tests.Fixtures;

/// <summary>
/// A worker of wire format v1 played by the test over Redis: it listens on its channel and answers every
/// assignment <c>received</c> and then <c>succeeded</c> at once, naming the task's queue (two queues may use one
/// task id), and records what it got (queue, task id and attempt). It neither registers nor heartbeats: the test
/// decides when.
/// </summary>
public static class SimulatedWorker
{
    /// <summary>Starts listening on <c>worker:{name}</c>; returns the assignments as they come.</summary>
    public static async Task<ConcurrentQueue<(string TaskId, int Attempt, string Queue)>> StartAsync(ISubscriber redis, string name)
    {
        var assignments = new ConcurrentQueue<(string, int, string)>();
        var status = RedisChannel.Literal("task-status");
        (await redis.SubscribeAsync(RedisChannel.Literal("worker:" + name))).OnMessage(m =>
        {
            using var doc = JsonDocument.Parse((string)m.Message!);
            var id = doc.RootElement.GetProperty("task_id").GetString()!;
            var queue = doc.RootElement.GetProperty("queue").GetString()!;
            assignments.Enqueue((id, doc.RootElement.GetProperty("attempt").GetInt32(), queue));
            var task = $"\"task_id\":\"{id}\",\"queue\":\"{queue}\",\"worker\":\"{name}\"";
            redis.Publish(status, $$"""{{{task}},"status":"received"}""", CommandFlags.FireAndForget);
            redis.Publish(status, $$"""{{{task}},"status":"succeeded","runtime":0.01}""", CommandFlags.FireAndForget);
        });
        return assignments;
    }
}
