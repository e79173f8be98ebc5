using System.Buffers;
using System.Text.Json;

namespace CeleryActors.Actors.Allocator;

/// <summary>Writes the assignment JSON of SPEC §4.1 that a worker receives on <c>P + worker:{worker}</c>.</summary>
public static class AssignmentWriter
{
    // A writer asks its buffer for 4 KB at a time, so a fresh buffer per assignment cost a 4 KB array (and its
    // zeroing) on every allocation: the node's largest allocation by far. Each thread keeps one buffer and writer
    // instead (Write runs to completion on one thread), and one grown for a huge task is let go.
    private const int KeptBufferBytes = 64 * 1024;
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>The assignment of <paramref name="task"/> (attempt and time of the allocation) as UTF-8 JSON.</summary>
    public static byte[] Write(QueuedTask task, string queue, int attempt, double allocatedAt)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(KeptBufferBytes / 4);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer); // always this thread's buffer: kept and let go together
        w.Reset();
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
        w.Flush();
        var json = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > KeptBufferBytes) (t_buffer, t_writer) = (null, null);
        return json;
    }
}
