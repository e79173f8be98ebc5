using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

/// <summary>One node takes each pub/sub message, and takes again what it kept when the takers change: a queue
/// accepts a replayed task it lost, ignores one it knows without calling it a duplicate, and still counts a
/// producer's repeated id.</summary>
public class PubSubReplayTests
{
    private static SubmitTask Task(string id, bool replayed = false) => new("q", id, "job", "{}", 5, null, null, 10, replayed);

    private static RecentMessages.Entry Entry(long atMs, string shard, int bytes = 100, bool taken = false) =>
        new(atMs, atMs / 1000.0, ChannelKind.Tasks, "tasks:q", new byte[bytes], AllocatorMessageExtractor.QueueTypeName, shard) { Taken = taken };

    [Fact]
    public void A_replayed_task_is_ignored_uncounted_when_known_and_accepted_when_lost()
    {
        var s = new QueueState("q");
        s.Apply(Accept(s, Task("kept")));
        Assert.Equal(SubmitOutcome.Known, s.Process(Task("kept", replayed: true), out _));
        // "lost" was taken only by a node that died: the replay is all that is left of it.
        Assert.Equal(SubmitOutcome.Accepted, s.Process(Task("lost", replayed: true), out var accepted));
        s.Apply(accepted!);
        // A producer's repeat of "kept" is still one duplicate (the replay did not hide it).
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("kept"), out _));
        Assert.Equal((2L, 1L), (s.Accepted, s.Duplicates));
    }

    [Fact]
    public void The_clients_retry_is_a_duplicate_and_so_is_a_pub_sub_publication_of_its_id()
    {
        var s = new QueueState("q");
        s.Apply(Accept(s, Task("c")));
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("c"), out _));
        Assert.Equal(SubmitOutcome.Duplicate, s.Process(Task("c"), out _));
        Assert.Equal(2L, s.Duplicates);
    }

    [Fact]
    public void Recent_messages_keep_the_window_and_let_go_of_what_it_left_behind_even_when_idle()
    {
        var recent = new RecentMessages(budgetBytes: 1_000_000, window: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++) recent.Add(Entry(i * 1_000, $"{i}"));
        Assert.Equal(5, recent.Count);
        recent.Trim(nowMs: 12_500); // entries 0, 1 and 2 are older than the window
        Assert.Equal(2, recent.Count);
        Assert.Equal(2 * (100 + RecentMessages.EntryOverheadBytes), recent.Bytes);
        recent.Trim(nowMs: 60_000);
        Assert.Equal((0, 0L), (recent.Count, recent.Bytes));
    }

    [Fact]
    public void Recent_messages_hold_no_more_bytes_than_their_budget_counting_each_entrys_overhead()
    {
        var cost = 100 + RecentMessages.EntryOverheadBytes;
        var recent = new RecentMessages(budgetBytes: 3 * cost, window: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++) recent.Add(Entry(i, $"{i}"));
        Assert.Equal((3, 3L * cost), (recent.Count, recent.Bytes));
        // Tiny payloads are bounded too: the overhead alone fills the budget.
        var tiny = new RecentMessages(budgetBytes: 10 * RecentMessages.EntryOverheadBytes, window: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 100; i++) tiny.Add(Entry(i, "0", bytes: 0));
        Assert.Equal(10, tiny.Count);
    }

    [Fact]
    public void What_is_taken_again_is_what_this_node_takes_now_and_did_not_take_then_each_once()
    {
        var recent = new RecentMessages(budgetBytes: 1_000_000, window: TimeSpan.FromSeconds(10));
        recent.Add(Entry(1_000, "a"));
        recent.Add(Entry(2_000, "b"));
        recent.Add(Entry(3_000, "a", taken: true));
        recent.Add(Entry(4_000, "a"));
        var again = recent.ToTakeAgain(5_000, e => e.Shard == "a", evenTaken: false).Select(e => e.AtMs).ToList();
        Assert.Equal([1_000L, 4_000L], again);
        // Marked taken: a second change does not take them again.
        Assert.Empty(recent.ToTakeAgain(5_000, e => e.Shard == "a", evenTaken: false));
        // A downed node is gone: what this node took and sent to it may be lost, so it goes again too.
        Assert.Equal([1_000L, 3_000L, 4_000L],
            recent.ToTakeAgain(5_000, e => e.Shard == "a", evenTaken: true).Select(e => e.AtMs).ToList());
        // Nothing older than the window is ever taken again.
        Assert.Empty(recent.ToTakeAgain(20_000, _ => true, evenTaken: true));
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
        Assert.Equal(SubmitOutcome.Accepted, s.Process(t, out var accepted));
        return accepted!;
    }
}
