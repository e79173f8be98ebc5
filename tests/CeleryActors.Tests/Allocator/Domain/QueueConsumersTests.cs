using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class QueueConsumersTests
{
    private static readonly Dictionary<string, CapabilityValue> None = new();

    private static WorkerServesQueue Serves(string worker, int free, int held = 0, long epoch = 1) =>
        new("q", worker, None, epoch, 1, free, held);

    private static QueueState WithTasks(int n)
    {
        var s = new QueueState("q");
        for (var i = 0; i < n; i++) s.Apply(new TaskAccepted($"t{i}", "job", "{}", 5, null, 1));
        return s;
    }

    [Fact]
    public void One_waiting_task_is_offered_to_one_worker_the_least_loaded_with_room()
    {
        var consumers = new QueueConsumers();
        consumers.Upsert(Serves("busy", free: 2, held: 6), null);
        consumers.Upsert(Serves("idle", free: 8, held: 0), null);
        consumers.Upsert(Serves("full", free: 0, held: 8), null);
        var offers = consumers.Offers(WithTasks(1));
        Assert.Equal(["idle"], offers.Select(o => o.Worker));
        // Asked once: until it answers, a second look offers nothing more.
        Assert.Empty(consumers.Offers(WithTasks(1)));
    }

    [Fact]
    public void When_the_room_of_workers_does_not_cover_what_waits_the_full_ones_hear_what_is_most_urgent()
    {
        var consumers = new QueueConsumers();
        consumers.Upsert(Serves("small", free: 1), null);
        consumers.Upsert(Serves("full", free: 0, held: 4), null);
        var offers = consumers.Offers(WithTasks(3));
        Assert.Equal(["small", "full"], offers.Select(o => o.Worker));
        Assert.Equal(new TaskOffer(5, 1, 3), offers[1].Offer);
        Assert.DoesNotContain(consumers.Offers(WithTasks(3)), o => o.Worker == "full"); // told once
    }

    [Fact]
    public void Grants_of_an_incarnation_older_than_one_heard_are_not_honoured()
    {
        var consumers = new QueueConsumers();
        consumers.Upsert(Serves("w", free: 4, epoch: 7), null);
        Assert.Null(consumers.Granted(new GrantSlots("q", "w", Epoch: 6, Count: 1, Free: 3, Held: 0)));
        Assert.True(consumers.IsStale(new GrantSlots("q", "w", 6, 1, 3, 0)));
        Assert.NotNull(consumers.Granted(new GrantSlots("q", "w", 7, 1, 3, 0)));
        Assert.Null(consumers.Upsert(Serves("w", free: 4, epoch: 6), null));
        consumers.Remove("w");
        Assert.True(consumers.IsStale(new GrantSlots("q", "w", 6, 1, 3, 0)));
    }
}
