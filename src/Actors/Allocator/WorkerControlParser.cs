using System.Text.Json;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Parses <c>P + workers:control</c> (SPEC §4.1): <c>register</c> (with the optional <c>instance</c>),
/// <c>heartbeat</c> (with the optional <c>running</c> list of task ids, which may be empty) and <c>unregister</c>,
/// into <see cref="IWorkerCommand"/>s.
/// </summary>
public static class WorkerControlParser
{
    /// <summary>Largest accepted pool size; a bigger one is a mistake, not a worker.</summary>
    public const int MaxPoolSize = 100_000;

    /// <summary>Parses one payload.</summary>
    public static ParseResult<IWorkerCommand> Parse(ReadOnlySpan<byte> payload)
    {
        var f = new Fields();
        if (WireFields.ReadObject(payload, ref f, ReadField) is { } error) return Reject(error);
        if (f.Type is null) return Reject(new WireError(RejectionReason.MissingField, "type is missing"));
        if (f.Type is not ("register" or "heartbeat" or "unregister"))
            return Reject(new WireError(RejectionReason.UnknownType,
                $"type '{WireFields.Truncate(f.Type)}' is not a workers:control message type"));
        if (WireFields.Missing(f.Worker, "worker") is { } noWorker) return Reject(noWorker);
        switch (f.Type)
        {
            case "heartbeat":
                return Accept(new WorkerHeartbeat(f.Worker!, Running: f.Running), "heartbeat", f.PublishedAt);
            case "unregister":
                return Accept(new UnregisterWorker(f.Worker!), "unregister", f.PublishedAt);
            default:
                if (WireFields.Missing(f.Queues, "queues") is { } noQueues) return Reject(noQueues);
                if (f.PoolSize is not { } pool)
                    return Reject(new WireError(RejectionReason.MissingField, "pool_size is missing"));
                if (pool < 1 || pool > MaxPoolSize)
                    return Reject(new WireError(RejectionReason.OutOfRange, $"pool_size is not within 1-{MaxPoolSize}"));
                return Accept(new RegisterWorker(f.Worker!, f.Queues!,
                    (IReadOnlyDictionary<string, CapabilityValue>?)f.Capabilities ?? new Dictionary<string, CapabilityValue>(),
                    pool, Instance: f.Instance), "register", f.PublishedAt);
        }
    }

    private static WireError? ReadField(ref Utf8JsonReader reader, ref Fields f)
    {
        if (reader.ValueTextEquals("type"u8)) return WireFields.Name(ref reader, "type", ref f.Type);
        if (reader.ValueTextEquals("worker"u8)) return WireFields.Name(ref reader, "worker", ref f.Worker);
        if (reader.ValueTextEquals("queues"u8)) return WireFields.Names(ref reader, "queues", ref f.Queues);
        if (reader.ValueTextEquals("capabilities"u8))
            return WireFields.Capabilities(ref reader, "capabilities", ref f.Capabilities);
        if (reader.ValueTextEquals("pool_size"u8)) return WireFields.Integer(ref reader, "pool_size", ref f.PoolSize);
        if (reader.ValueTextEquals("published_at"u8))
            return WireFields.Number(ref reader, "published_at", ref f.PublishedAt);
        if (reader.ValueTextEquals("instance"u8)) return WireFields.Name(ref reader, "instance", ref f.Instance);
        if (reader.ValueTextEquals("running"u8))
            return WireFields.Names(ref reader, "running", ref f.Running, allowEmpty: true, maxCount: MaxPoolSize);
        WireFields.Skip(ref reader);
        return null;
    }

    private static ParseResult<IWorkerCommand> Accept(IWorkerCommand command, string type, double? publishedAt) =>
        ParseResult<IWorkerCommand>.Accepted(command, type, publishedAt);

    private static ParseResult<IWorkerCommand> Reject(WireError error) =>
        ParseResult<IWorkerCommand>.Rejected(error.Reason, error.Detail);

    private struct Fields
    {
        public string? Type, Worker, Instance;
        public List<string>? Running;
        public List<string>? Queues;
        public Dictionary<string, CapabilityValue>? Capabilities;
        public int? PoolSize;
        public double? PublishedAt;
    }
}
