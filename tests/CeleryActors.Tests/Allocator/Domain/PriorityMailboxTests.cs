using CeleryActors.Actors.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class PriorityMailboxTests
{
    [Fact]
    public void A_burst_of_mixed_priorities_comes_out_highest_first_and_fifo_within_a_priority()
    {
        var box = new PriorityMailbox<string>();
        var random = new Random(7);
        var sent = new List<(int Priority, long Seq)>();
        for (var i = 0; i < 1_000; i++)
        {
            var p = random.Next(0, 10);
            box.Enqueue($"t{i}", p, i, $"{p}:{i}");
            sent.Add((p, i));
        }
        var expected = sent.OrderByDescending(s => s.Priority).ThenBy(s => s.Seq).Select(s => $"{s.Priority}:{s.Seq}");
        var actual = new List<string>();
        while (box.Dequeue() is { } item) actual.Add(item);
        Assert.Equal(expected, actual);
        Assert.Equal(0, box.Count);
    }

    [Fact]
    public void A_requeued_task_goes_ahead_of_newer_tasks_of_its_priority_only()
    {
        var box = new PriorityMailbox<string>();
        box.Enqueue("old", 5, 1, "old");
        box.Enqueue("a", 5, 2, "a");
        box.Enqueue("b", 5, 3, "b");
        box.Enqueue("urgent", 9, 4, "urgent");
        Assert.Equal("urgent", box.Dequeue());
        Assert.Equal("old", box.Dequeue()); // allocated, then comes back
        box.Enqueue("c", 5, 5, "c");
        box.Enqueue("old", 5, 1, "old");
        Assert.Equal(["old", "a", "b", "c"], Drain(box));
    }

    [Fact]
    public void TakeFirst_skips_refused_tasks_and_leaves_them_in_place()
    {
        var box = new PriorityMailbox<string>();
        box.Enqueue("gpu", 9, 1, "gpu");
        box.Enqueue("plain", 1, 2, "plain");
        Assert.Equal("plain", box.TakeFirst(t => t != "gpu"));
        Assert.Null(box.TakeFirst(t => t != "gpu"));
        Assert.True(box.Remove("gpu"));
        Assert.False(box.Remove("gpu"));
    }

    private static List<string> Drain(PriorityMailbox<string> box)
    {
        var list = new List<string>();
        while (box.Dequeue() is { } item) list.Add(item);
        return list;
    }
}
