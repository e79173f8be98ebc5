using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class WorkerPoolTests
{
    private static TaskOffer Offer(int priority, double arrivedAt = 1, int count = 10) => new(priority, arrivedAt, count);

    private static WorkerPool Synced(int size, params string[] queues)
    {
        var pool = new WorkerPool(size, queues);
        foreach (var q in queues) pool.Synced(q, pool.StartSync(q, 0, 1000)!.Value, [], null, 0);
        return pool;
    }

    [Fact]
    public void Nothing_is_granted_before_every_queue_answered_a_sync()
    {
        var pool = new WorkerPool(4, ["a", "b"]);
        pool.Offered("a", Offer(5));
        pool.Synced("a", pool.StartSync("a", 0, 1000)!.Value, [], Offer(5), 0);
        Assert.Empty(pool.Grants());
        pool.Synced("b", pool.StartSync("b", 0, 1000)!.Value, [], null, 0);
        Assert.Equal([("a", 4)], pool.Grants());
    }

    [Fact]
    public void A_free_slot_goes_to_the_most_urgent_offer_and_the_pool_is_never_exceeded()
    {
        var pool = Synced(3, "a", "b", "c");
        pool.Offered("a", Offer(2, count: 5));
        pool.Offered("b", Offer(9, count: 1));
        pool.Offered("c", Offer(9, arrivedAt: 0.5, count: 1));
        Assert.Equal([("c", 1), ("b", 1), ("a", 1)], pool.Grants());
        Assert.Equal((0, 0, 3), (pool.Free, pool.Held, pool.Promised));
        pool.Offered("a", Offer(2));
        Assert.Empty(pool.Grants());
        Assert.True(pool.Assigned("c", "t1", null, 0));
        pool.Returned("b", 1, null);
        Assert.Equal([("a", 1)], pool.Grants());
        Assert.Equal((2, 1), (pool.Promised, pool.Held));
    }

    [Fact]
    public void A_sync_sets_what_is_held_and_promised_whatever_was_lost_before_it()
    {
        var pool = Synced(4, "a");
        pool.Offered("a", Offer(5, count: 2));
        Assert.Equal([("a", 2)], pool.Grants());
        // Both answers to that grant are lost; then a sync: the queue held one task for us at the cut.
        var stamp = pool.StartSync("a", 10, 1000)!.Value;
        pool.Offered("a", Offer(5, count: 1));
        Assert.Equal([("a", 1)], pool.Grants()); // granted after the cut: still promised after the answer
        Assert.True(pool.Synced("a", stamp, ["x"], null, 11));
        Assert.Equal((1, 1, 2), (pool.Held, pool.Promised, pool.Free));
        Assert.False(pool.Synced("a", stamp, ["x"], null, 12)); // answered already
    }

    [Fact]
    public void What_the_pool_let_go_of_after_the_cut_stays_gone_and_a_smaller_pool_grants_nothing_until_below()
    {
        var pool = Synced(3, "a");
        pool.Offered("a", Offer(5, count: 3));
        pool.Grants();
        foreach (var id in new[] { "x", "y", "z" }) pool.Assigned("a", id, null, 0);
        var stamp = pool.StartSync("a", 5, 1000)!.Value;
        pool.Forget("a", "x"); // its report went to the queue after the cut
        pool.Synced("a", stamp, ["x", "y", "z"], null, 6);
        Assert.Equal(2, pool.Held);
        pool.Size = 1;
        pool.Offered("a", Offer(5));
        Assert.Empty(pool.Grants());
        pool.Forget("a", "y");
        Assert.Empty(pool.Grants());
        pool.Forget("a", "z");
        Assert.Equal([("a", 1)], pool.Grants());
    }

    [Fact]
    public void A_heartbeat_that_omits_a_task_held_longer_than_the_ack_timeout_lets_it_go()
    {
        var pool = Synced(4, "a");
        pool.Offered("a", Offer(5, count: 2));
        pool.Grants();
        pool.Assigned("a", "old", null, 0);
        pool.Assigned("a", "new", null, 25_000);
        Assert.Equal([("a", "old")], pool.NotRunning([], 31_000, 30_000));
        Assert.Empty(pool.NotRunning(["old"], 31_000, 30_000));
    }
}
