using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class AllocationDecisionTests
{
    private static readonly Dictionary<string, CapabilityValue> None = new();

    [Fact]
    public void Offers_to_the_least_loaded_worker_with_room_and_the_first_among_equals()
    {
        var a = new WorkerSlot("a", None) { Free = 1, Held = 1 };
        var b = new WorkerSlot("b", None) { Free = 3, Held = 1 };
        var c = new WorkerSlot("c", None) { Free = 0, Held = 0 }; // full
        Assert.Same(a, AllocationDecision.Choose([a, b, c], null));
        b.Held = 0;
        Assert.Same(b, AllocationDecision.Choose([a, b, c], null));
        b.Offered = true; // waiting for its answer: not asked twice
        Assert.Same(a, AllocationDecision.Choose([a, b, c], null));
        a.Free = 0;
        Assert.Null(AllocationDecision.Choose([a, b, c], null));
    }

    [Fact]
    public void Numbers_are_met_by_greater_or_equal_and_strings_by_equal()
    {
        var small = new WorkerSlot("small", new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(2), ["os"] = CapabilityValue.Of("linux") }) { Free = 5 };
        var big = new WorkerSlot("big", new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(8), ["os"] = CapabilityValue.Of("linux"), ["gpu"] = CapabilityValue.Of(1) }) { Free = 5, Held = 3 };
        Assert.Same(big, AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(4) }));
        Assert.Same(small, AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(2) }));
        Assert.Same(big, AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(1) }));
        Assert.Null(AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["os"] = CapabilityValue.Of("windows") }));
        Assert.Null(AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of("8") }));
        Assert.Null(AllocationDecision.Choose([small, big], new Dictionary<string, CapabilityValue> { ["gpu"] = CapabilityValue.Of(2) }));
    }
}
