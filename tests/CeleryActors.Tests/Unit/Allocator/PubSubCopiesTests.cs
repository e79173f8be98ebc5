using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Unit.Allocator;

/// <summary>Every node forwards what it hears on pub/sub: the tally counts publications, not copies, and a queue
/// accepts a task once and counts a producer's repeated id once.</summary>
public class PubSubCopiesTests
{
    private const string Channel = "tasks:q";

    private static PubSubCopy From(long node) => new(node, Channel, "task", null);

    private static SubmitTask Task(string id, long node) => new("q", id, "job", "{}", 5, null, null, 10, From(node));

    [Fact]
    public void Three_nodes_copies_of_five_publications_count_five_in_whatever_order_they_arrive()
    {
        var tally = new PubSubTally();
        var arrivals = Enumerable.Range(0, 5).SelectMany(_ => new long[] { 1, 2, 3 }).ToList();
        // Node 3 runs ahead, node 1 lags behind: the interleaving must not matter.
        arrivals = arrivals.OrderBy(n => n == 3 ? 0 : n == 2 ? 1 : 2).ToList();
        var counted = arrivals.Count(n => tally.Observe(From(n)));
        Assert.Equal(5, counted);
        Assert.Equal(5, tally.Publications(Channel, "task"));
    }

    [Fact]
    public void A_node_that_missed_messages_or_joined_late_does_not_lower_the_count()
    {
        var tally = new PubSubTally();
        for (var i = 0; i < 10; i++) tally.Observe(From(1));
        for (var i = 0; i < 4; i++) tally.Observe(From(2)); // subscribed late: heard only the last four
        Assert.Equal(10, tally.Publications(Channel, "task"));
        Assert.True(tally.Observe(From(1)));
        Assert.False(tally.Observe(From(2)));
        Assert.Equal(0, tally.Publications(Channel, "heartbeat"));
    }

    [Fact]
    public void A_task_heard_by_three_nodes_is_accepted_once_and_is_no_duplicate()
    {
        var s = new QueueState("q");
        Assert.Equal(SubmitOutcome.Accepted, s.Process(Task("a", 1), out var accepted, out var first));
        Assert.True(first);
        s.Apply(accepted!);
        Assert.Equal(SubmitOutcome.Copy, s.Process(Task("a", 2), out _, out first));
        Assert.False(first);
        Assert.Equal(SubmitOutcome.Copy, s.Process(Task("a", 3), out _, out _));
        Assert.Equal((1L, 0L), (s.Accepted, s.Duplicates));
    }

    [Fact]
    public void A_producer_that_publishes_one_id_twice_is_counted_one_duplicate_however_many_nodes_hear_it()
    {
        var s = new QueueState("q");
        var outcomes = new List<SubmitOutcome>();
        // Two publications of "a", each heard by three nodes; node 2's copies come last.
        foreach (var node in new long[] { 1, 3, 1, 3, 2, 2 })
        {
            outcomes.Add(s.Process(Task("a", node), out var accepted, out _));
            if (accepted is not null) s.Apply(accepted);
        }
        Assert.Equal(1, outcomes.Count(o => o == SubmitOutcome.Accepted));
        Assert.Equal(1, outcomes.Count(o => o == SubmitOutcome.Duplicate));
        Assert.Equal((1L, 1L), (s.Accepted, s.Duplicates));
    }

    [Fact]
    public void A_node_that_missed_a_publication_causes_no_false_duplicate()
    {
        // Node 1 missed "t1"; its copy of "t2" is its first message. Node 2 heard both.
        var s = new QueueState("q");
        foreach (var (id, node) in new[] { ("t2", 1L), ("t1", 2L), ("t2", 2L) })
        {
            var outcome = s.Process(Task(id, node), out var accepted, out _);
            Assert.NotEqual(SubmitOutcome.Duplicate, outcome);
            if (accepted is not null) s.Apply(accepted);
        }
        Assert.Equal((2L, 0L), (s.Accepted, s.Duplicates));
    }

    [Fact]
    public void The_clients_retry_is_a_duplicate_and_so_is_a_pub_sub_publication_of_its_id()
    {
        var s = new QueueState("q");
        var fromClient = new SubmitTask("q", "c", "job", "{}", 5, null, null, 10);
        Assert.Equal(SubmitOutcome.Accepted, s.Process(fromClient, out var accepted, out var first));
        Assert.False(first);
        s.Apply(accepted!);
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(fromClient, out _, out _));
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("c", 1), out _, out _));
        Assert.Equal(SubmitOutcome.Copy, s.Process(Task("c", 2), out _, out _));
        Assert.Equal(2L, s.Duplicates);
    }
    [Fact]
    public void A_replayed_copy_is_never_counted_is_ignored_when_known_and_accepted_when_lost()
    {
        var s = new QueueState("q");
        s.Apply(Accept(s, Task("kept", 1)));
        var replay = (SubmitTask t) => t with { Via = t.Via! with { Replay = true } };
        Assert.Equal(SubmitOutcome.Copy, s.Process(replay(Task("kept", 2)), out _, out var first));
        Assert.False(first);
        // "lost" went only to a node that died: its replay is the only copy left.
        Assert.Equal(SubmitOutcome.Accepted, s.Process(replay(Task("lost", 2)), out var accepted, out first));
        Assert.False(first);
        s.Apply(accepted!);
        // A producer's repeat of "kept", heard by node 1, is still one duplicate (the replay did not hide it).
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("kept", 1), out _, out _));
        Assert.Equal((2L, 1L), (s.Accepted, s.Duplicates));
    }

    [Fact]
    public void Recent_copies_keep_the_newest_within_their_window_and_capacity()
    {
        var recent = new RecentCopies(capacity: 3, budgetBytes: 1_000_000, window: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++) recent.Add(Task($"t{i}", 1), bytes: 100, nowMs: i * 1_000);
        Assert.Equal(["t2", "t3", "t4"], recent.Within(4_000).Cast<SubmitTask>().Select(t => t.TaskId));
        Assert.Equal(["t4"], recent.Within(13_500).Cast<SubmitTask>().Select(t => t.TaskId));
        Assert.Empty(recent.Within(60_000));
    }

    [Fact]
    public void Recent_copies_hold_no_more_bytes_than_their_budget_and_let_go_of_what_the_window_left_behind()
    {
        var recent = new RecentCopies(capacity: 100, budgetBytes: 1_000, window: TimeSpan.FromSeconds(10));
        recent.Add(Task("small", 1), bytes: 100, nowMs: 0);
        recent.Add(Task("large", 1), bytes: 800, nowMs: 1);
        recent.Add(Task("next", 1), bytes: 200, nowMs: 2);
        Assert.Equal(["large", "next"], recent.Within(2).Cast<SubmitTask>().Select(t => t.TaskId));
        Assert.Equal((2, 1_000L), (recent.Count, recent.Bytes));
        // Nothing is held past the window once newer traffic comes, even far below both limits.
        recent.Add(Task("later", 1), bytes: 10, nowMs: 60_000);
        Assert.Equal((1, 10L), (recent.Count, recent.Bytes));
    }

    [Fact]
    public void Recently_finished_tasks_keep_their_queue_for_the_lifetime_and_up_to_the_capacity()
    {
        var finished = new RecentlyFinished(capacity: 2, lifetime: TimeSpan.FromSeconds(10));
        finished.Add("a", "q1", nowMs: 0);
        finished.Add("b", "q2", nowMs: 1_000);
        Assert.True(finished.TryGet("a", out var queue));
        Assert.Equal("q1", queue);
        finished.Add("c", "q1", nowMs: 2_000);
        Assert.False(finished.TryGet("a", out _)); // over the capacity: the oldest went
        finished.Trim(nowMs: 11_500);
        Assert.False(finished.TryGet("b", out _)); // older than the lifetime
        Assert.True(finished.TryGet("c", out _));
    }

    [Fact]
    public void A_task_allocated_again_is_no_longer_finished_and_noting_it_again_renews_it()
    {
        var finished = new RecentlyFinished(capacity: 10, lifetime: TimeSpan.FromSeconds(10));
        finished.Add("a", "q", nowMs: 0);
        finished.Remove("a");
        Assert.False(finished.TryGet("a", out _));
        finished.Add("a", "q", nowMs: 5_000);
        // The stale first note must not take the renewed one with it.
        finished.Trim(nowMs: 12_000);
        Assert.True(finished.TryGet("a", out _));
        finished.Trim(nowMs: 15_001);
        Assert.Equal(0, finished.Count);
    }

    private static TaskAccepted Accept(QueueState s, SubmitTask t)
    {
        Assert.Equal(SubmitOutcome.Accepted, s.Process(t, out var accepted, out _));
        return accepted!;
    }
}
