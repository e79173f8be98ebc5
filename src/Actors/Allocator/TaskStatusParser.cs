using System.Text.Json;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Parses <c>P + task-status</c> (SPEC §4.1) into a <see cref="WorkerTaskStatus"/>, with the optional
/// <c>queue</c> of the task (two queues may use the same task id). <c>runtime</c> is read on
/// <c>succeeded</c>/<c>failed</c> when present (a report without it still finishes the task, with no duration
/// observed); a <c>failed</c> report without <c>exception</c> counts under <c>unknown</c>, because refusing it
/// would leave a finished task unfinished forever.
/// </summary>
public static class TaskStatusParser
{
    /// <summary>The exception label of a failure that named none.</summary>
    public const string UnknownException = LabelValues.Unknown;

    /// <summary>Parses one payload.</summary>
    public static ParseResult<WorkerTaskStatus> Parse(ReadOnlySpan<byte> payload)
    {
        var f = new Fields();
        if (WireFields.ReadObject(payload, ref f, ReadField) is { } error) return Reject(error);
        if ((WireFields.Missing(f.TaskId, "task_id") ?? WireFields.Missing(f.Worker, "worker")
             ?? WireFields.Missing(f.Status, "status")) is { } missing)
            return Reject(missing);
        TaskProgress progress;
        switch (f.Status)
        {
            case "received": progress = TaskProgress.Received; break;
            case "started": progress = TaskProgress.Started; break;
            case "succeeded": progress = TaskProgress.Succeeded; break;
            case "failed": progress = TaskProgress.Failed; break;
            default:
                return Reject(new WireError(RejectionReason.OutOfRange,
                    "status is not one of received, started, succeeded, failed"));
        }
        if (f.Runtime is { } runtime && WireLimits.Duration("runtime", runtime) is { } badRuntime)
            return Reject(new WireError(RejectionReason.OutOfRange, badRuntime));
        var finished = progress is TaskProgress.Succeeded or TaskProgress.Failed;
        var status = new WorkerTaskStatus(f.Worker!, f.TaskId!, progress, finished ? f.Runtime : null,
            progress == TaskProgress.Failed ? f.Exception ?? UnknownException : null, Queue: f.Queue);
        return ParseResult<WorkerTaskStatus>.Accepted(status, f.Status!, f.PublishedAt);
    }

    private static WireError? ReadField(ref Utf8JsonReader reader, ref Fields f)
    {
        if (reader.ValueTextEquals("task_id"u8)) return WireFields.Name(ref reader, "task_id", ref f.TaskId);
        if (reader.ValueTextEquals("worker"u8)) return WireFields.Name(ref reader, "worker", ref f.Worker);
        if (reader.ValueTextEquals("queue"u8)) return WireFields.Name(ref reader, "queue", ref f.Queue);
        if (reader.ValueTextEquals("status"u8)) return WireFields.Name(ref reader, "status", ref f.Status);
        if (reader.ValueTextEquals("runtime"u8)) return WireFields.Number(ref reader, "runtime", ref f.Runtime);
        if (reader.ValueTextEquals("published_at"u8)) return WireFields.Number(ref reader, "published_at", ref f.PublishedAt);
        if (reader.ValueTextEquals("exception"u8))
        {
            if (Peek(ref reader) == JsonTokenType.Null)
            {
                WireFields.Skip(ref reader);
                return null;
            }
            return WireFields.Name(ref reader, "exception", ref f.Exception);
        }
        WireFields.Skip(ref reader);
        return null;
    }

    private static JsonTokenType Peek(ref Utf8JsonReader reader)
    {
        var copy = reader;
        copy.Read();
        return copy.TokenType;
    }

    private static ParseResult<WorkerTaskStatus> Reject(WireError error) =>
        ParseResult<WorkerTaskStatus>.Rejected(error.Reason, error.Detail);

    private struct Fields
    {
        public string? TaskId, Worker, Status, Exception, Queue;
        public double? Runtime, PublishedAt;
    }
}
