using System.Text;
using System.Text.Json;
using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class AssignmentWriterTests
{
    private static QueuedTask Task(string id, string data, int priority = 3) =>
        new(new TaskAccepted(id, "report.build", data, priority, null, 1_700_000_000.5), sequence: 1);

    [Fact]
    public void Writes_every_field_of_the_assignment_with_the_task_data_unchanged()
    {
        var json = Encoding.UTF8.GetString(AssignmentWriter.Write(Task("t-1", """{"a":[1,{"b":null}]}"""), "reports", 2, 1_700_000_001.25));
        Assert.Equal(
            """{"type":"assignment","task_id":"t-1","task_name":"report.build","queue":"reports","task_data":{"a":[1,{"b":null}]},"priority":3,"attempt":2,"allocated_at":1700000001.25}""",
            json);
    }

    [Fact]
    public void Each_assignment_holds_only_its_own_bytes_when_the_buffer_is_reused()
    {
        // The writer keeps its buffer between calls: a short assignment after a long one must not carry its tail,
        // and one after a task too large to keep the buffer for must be whole too.
        var big = "\"" + new string('x', 200_000) + "\"";
        var first = AssignmentWriter.Write(Task("long-task-id-" + new string('l', 300), "{\"n\":1}"), "q", 1, 1.0);
        var huge = AssignmentWriter.Write(Task("huge", big), "q", 1, 2.0);
        var last = AssignmentWriter.Write(Task("s", "{}"), "q", 1, 3.0);

        Assert.Equal("long-task-id-" + new string('l', 300), JsonDocument.Parse(first).RootElement.GetProperty("task_id").GetString());
        Assert.Equal(200_000, JsonDocument.Parse(huge).RootElement.GetProperty("task_data").GetString()!.Length);
        using var doc = JsonDocument.Parse(last);
        Assert.Equal(("s", 3.0), (doc.RootElement.GetProperty("task_id").GetString(), doc.RootElement.GetProperty("allocated_at").GetDouble()));
        Assert.Equal("""{"type":"assignment","task_id":"s","task_name":"report.build","queue":"q","task_data":{},"priority":3,"attempt":1,"allocated_at":3}""",
            Encoding.UTF8.GetString(last));
    }

    [Fact]
    public void Writers_on_several_threads_do_not_mix_their_assignments()
    {
        var results = new string[8][];
        Parallel.For(0, 8, t => results[t] = Enumerable.Range(0, 500)
            .Select(i => Encoding.UTF8.GetString(AssignmentWriter.Write(Task($"t{t}-{i}", $$"""{"i":{{i}}}"""), "q" + t, 1, i)))
            .ToArray());
        for (var t = 0; t < 8; t++)
        for (var i = 0; i < 500; i++)
        {
            using var doc = JsonDocument.Parse(results[t][i]);
            Assert.Equal(($"t{t}-{i}", "q" + t, i), (doc.RootElement.GetProperty("task_id").GetString(),
                doc.RootElement.GetProperty("queue").GetString(), doc.RootElement.GetProperty("task_data").GetProperty("i").GetInt32()));
        }
    }
}
