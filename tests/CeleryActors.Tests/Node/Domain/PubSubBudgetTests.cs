using CeleryActors.Actors.Subscription;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class PubSubBudgetTests
{
    [Fact]
    public void Holds_up_to_its_bytes_drops_past_them_and_reports_the_drops_once()
    {
        var budget = new PubSubBudget("metrics", 1_000);
        Assert.True(budget.TryHold(300)); // 460 with its overhead
        Assert.True(budget.TryHold(300)); // 920
        Assert.False(budget.TryHold(300)); // would be 1,380
        Assert.False(budget.TryHold(10));
        Assert.Equal(920, budget.HeldBytes);

        Assert.Equal(2, budget.Release(300)); // the two dropped, told with the next handled message
        Assert.Equal(0, budget.Release(300));
        Assert.Equal(0, budget.HeldBytes);
    }

    [Fact]
    public void A_message_larger_than_the_budget_is_taken_when_nothing_is_held()
    {
        var budget = new PubSubBudget("metrics", 100);
        Assert.True(budget.TryHold(5_000));
        Assert.False(budget.TryHold(1));
        Assert.Equal(1, budget.Release(5_000));
        Assert.True(budget.TryHold(1));
    }

    [Fact]
    public void Never_holds_more_than_its_bytes_under_concurrency()
    {
        var budget = new PubSubBudget("metrics", 100_000);
        long peak = 0;
        Parallel.For(0, 100_000, _ =>
        {
            if (!budget.TryHold(100)) return;
            var held = budget.HeldBytes;
            long seen;
            while ((seen = Interlocked.Read(ref peak)) < held && Interlocked.CompareExchange(ref peak, held, seen) != seen) { }
            budget.Release(100);
        });
        Assert.InRange(peak, 260, 100_000);
        Assert.Equal(0, budget.HeldBytes);
    }

    [Fact]
    public async Task A_flow_controlled_hold_waits_for_room_instead_of_dropping_and_each_release_lets_one_more_in()
    {
        var budget = new PubSubBudget("celery_events", 1_000);
        await budget.HoldAsync(700, CancellationToken.None); // room: taken at once
        var waiting = budget.HoldAsync(700, CancellationToken.None).AsTask();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);

        Assert.Equal(0, budget.Release(700)); // handled: the waiting one gets in, and nothing was dropped
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(700 + 160, budget.HeldBytes);

        // One reader holding as fast as it may, one owner handling on another thread: all 2,000 get in, none is
        // dropped, and no more are held at once than fit (two of 300 bytes plus overhead in 1,000). The owner counts
        // a message handled before it gives its room back, so the reader never sees more held than there are.
        budget.Release(700);
        var taken = 0;
        var handled = 0;
        var mostHeld = 0;
        var owner = Task.Run(async () =>
        {
            while (Volatile.Read(ref handled) < 2_000)
            {
                if (Volatile.Read(ref taken) > handled)
                {
                    Interlocked.Increment(ref handled);
                    Assert.Equal(0, budget.Release(300));
                }
                else await Task.Yield();
            }
        });
        for (var i = 0; i < 2_000; i++)
        {
            await budget.HoldAsync(300, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            mostHeld = Math.Max(mostHeld, Interlocked.Increment(ref taken) - Volatile.Read(ref handled));
        }
        await owner.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.InRange(mostHeld, 1, 2);
        Assert.Equal(0, budget.HeldBytes);
    }
}
