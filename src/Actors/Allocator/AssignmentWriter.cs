using System.Buffers;
using System.Text.Json;

namespace CeleryActors.Actors.Allocator;

/// <summary>Writes the assignment JSON of SPEC §4.1 that a worker receives on <c>P + worker:{worker}</c>.</summary>
public static class AssignmentWriter
{
    /// <summary>The assignment of <paramref name="task"/> (attempt and time of the allocation) as UTF-8 JSON.</summary>
    public static byte[] Write(QueuedTask task, string queue, int attempt, double allocatedAt)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + task.TaskData.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "assignment"u8);
            w.WriteString("task_id"u8, task.TaskId);
            w.WriteString("task_name"u8, task.TaskName);
            w.WriteString("queue"u8, queue);
            w.WritePropertyName("task_data"u8);
            // The producer's JSON, validated when it was parsed, goes to the worker unchanged.
            w.WriteRawValue(task.TaskData, skipInputValidation: true);
            w.WriteNumber("priority"u8, task.Priority);
            w.WriteNumber("attempt"u8, attempt);
            w.WriteNumber("allocated_at"u8, allocatedAt);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
