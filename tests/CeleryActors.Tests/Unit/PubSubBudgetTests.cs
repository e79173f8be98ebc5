using CeleryActors.Actors.Subscription;
using Xunit;

namespace CeleryActors.Tests.Unit;

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
}
