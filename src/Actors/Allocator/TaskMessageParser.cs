using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;
using System.Text.Json;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Parses a task published on <c>P + tasks:{queue}</c> (SPEC §4.1) into a <see cref="SubmitTask"/>. The task
/// data is kept as the producer's JSON text, untouched. A task without <c>task_id</c> gets one derived from the
/// channel and the payload bytes, so every node that sees the same publication derives the same id, and a
/// producer's retry of the same bytes is a duplicate rather than a second task.
/// </summary>
public static class TaskMessageParser
{
    /// <summary>The priority of a task that names none.</summary>
    public const int DefaultPriority = 5;

    /// <summary>Parses one payload that arrived on <paramref name="channel"/> for <paramref name="queue"/>.</summary>
    /// <param name="channel">The full channel name (part of a derived id).</param>
    /// <param name="queue">The queue, from the channel name.</param>
    /// <param name="payload">The bytes.</param>
    /// <param name="arrivedAt">The node's receive time (Unix seconds).</param>
    /// <param name="idIfNone">The id of a task that names none; null: one derived from the payload bytes.</param>
    public static ParseResult<SubmitTask> Parse(string channel, string queue, ReadOnlySpan<byte> payload, double arrivedAt,
        string? idIfNone = null)
    {
        if (queue.Length == 0 || queue.Length > WireFields.MaxNameLength)
            return Reject(new WireError(RejectionReason.OutOfRange, "the queue name in the channel is empty or too long"));
        var fields = new Fields { Payload = payload.Length };
        var error = WireFields.ReadObject(payload, ref fields, ReadField);
        if (error is { } e) return Reject(e);
        if (WireFields.Missing(fields.TaskName, "task_name") is { } missing) return Reject(missing);
        var priority = fields.Priority ?? DefaultPriority;
        if (priority is < 0 or > 9) return Reject(new WireError(RejectionReason.OutOfRange, "priority is not within 0-9"));
        var raw = fields.DataEnd > fields.DataStart ? payload[fields.DataStart..fields.DataEnd] : "null"u8;
        // The reader skips over task_data without decoding its strings; decoding it leniently would replace bad
        // bytes with U+FFFD and hand the worker other data than was sent.
        if (!Utf8.IsValid(raw)) return Reject(new WireError(RejectionReason.InvalidJson, "task_data is not valid UTF-8"));
        var data = Encoding.UTF8.GetString(raw);
        var taskId = fields.TaskId ?? idIfNone ?? DerivedId(channel, payload);
        var task = new SubmitTask(queue, taskId, fields.TaskName!, data, priority,
            fields.Requires is { Count: > 0 } r ? r : null, fields.PublishedAt, arrivedAt);
        return ParseResult<SubmitTask>.Accepted(task, "task", fields.PublishedAt);
    }

    /// <summary>The id of a task published without one: <c>h-</c> and 32 hex digits of SHA-256 over the
    /// channel name and the payload bytes.</summary>
    public static string DerivedId(string channel, ReadOnlySpan<byte> payload)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(channel));
        hash.AppendData([0]);
        hash.AppendData(payload);
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return "h-" + Convert.ToHexStringLower(digest[..16]);
    }

    private static WireError? ReadField(ref Utf8JsonReader reader, ref Fields f)
    {
        if (reader.ValueTextEquals("task_name"u8)) return WireFields.Name(ref reader, "task_name", ref f.TaskName);
        if (reader.ValueTextEquals("task_id"u8)) return WireFields.Name(ref reader, "task_id", ref f.TaskId);
        if (reader.ValueTextEquals("priority"u8)) return WireFields.Integer(ref reader, "priority", ref f.Priority);
        if (reader.ValueTextEquals("published_at"u8)) return WireFields.Number(ref reader, "published_at", ref f.PublishedAt);
        if (reader.ValueTextEquals("requires"u8)) return WireFields.Capabilities(ref reader, "requires", ref f.Requires);
        if (reader.ValueTextEquals("task_data"u8))
        {
            // Keep the exact JSON text: the worker gets the producer's data byte for byte.
            reader.Read();
            f.DataStart = (int)reader.TokenStartIndex;
            reader.Skip();
            f.DataEnd = (int)reader.BytesConsumed;
            return null;
        }
        WireFields.Skip(ref reader);
        return null;
    }

    private static ParseResult<SubmitTask> Reject(WireError error) =>
        ParseResult<SubmitTask>.Rejected(error.Reason, error.Detail);

    private struct Fields
    {
        public string? TaskName, TaskId;
        public int? Priority;
        public double? PublishedAt;
        public Dictionary<string, CapabilityValue>? Requires;
        public int DataStart, DataEnd, Payload;
    }
}
