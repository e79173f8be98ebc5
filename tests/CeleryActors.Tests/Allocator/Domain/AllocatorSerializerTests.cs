using System.Text.Json;
using Akka.TestKit.Xunit2;
using CeleryActors.Messages.Allocator;
using CeleryActors.Protocol.Serialization;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class AllocatorSerializerTests() : TestKit("""
    akka.actor.serializers.celery-allocator = "CeleryActors.Protocol.Serialization.AllocatorSerializer, CeleryActors.Protocol"
    akka.actor.serialization-bindings { "CeleryActors.Messages.Allocator.IAllocatorProtocol, CeleryActors.Messages" = celery-allocator }
    """)
{
    private static readonly Dictionary<string, CapabilityValue> Caps = new()
    {
        ["gpu"] = CapabilityValue.Of(1), ["zone"] = CapabilityValue.Of("eu"),
    };

    private static readonly SnapshotTask Snap = new("t1", "job", """{"a":[1,"x"]}""", 7, Caps, 10.5, 3, 2, "w1", true, false, 11.25);
    private static readonly HistoryEntry History = new(9, "allocated", "t1", "w1", 2, 11.25, null);

    /// <summary>One instance of every message type the serializer knows.</summary>
    public static IEnumerable<object[]> Messages() => new object[]
    {
        new SubmitTask("q", "t1", "job", """{"k":null}""", 9, Caps, 1.5, 2.5),
        new SubmitTask("q", "t2", "job", "null", 0, null, null, 2.5),
        new SubmitTask("q", "t3", "job", "null", 0, null, null, 2.5, Replayed: true),
        new TaskSubmitted("q", "t3", true),
        new TaskRefused("q", "t4", "queue q holds 3 waiting tasks"),
        new ReportTaskProgress("q", "t1", "w1", TaskProgress.Failed, 0.25, "KeyError"),
        new ReportTaskProgress("q", "t1", "w1", TaskProgress.Succeeded, 0.25, null, Replayed: true),
        new ReportTaskProgress("q", "t1", "w1", TaskProgress.Started, null, null, Direct: true),
        new WorkerServesQueue("q", "w1", Caps, 7, 3, 2, 5),
        new QueueSynced("w1", "q", 7, 3, ["t1", "t2"], new TaskOffer(9, 12.5, 4)),
        new QueueSynced("w1", "q", 7, 4, [], null),
        new TasksWaiting("w1", "q", new TaskOffer(0, 1.25, 1)),
        new GrantSlots("q", "w1", 7, 3, 0, 13),
        new SlotsReturned("w1", "q", 2, null),
        new WorkerRoomChanged("q", "w1", 0, 16),
        new ReturnTask("q", "t1", "w1", "not_running"),
        new WorkerLeftQueue("q", "w1", "worker_offline"),
        new GetQueueStats("q"),
        new GetQueueHistory("q", 10),
        new QueueStats("q", new Dictionary<int, int> { [9] = 1, [5] = 4 }, 5, 2, 3, 10, 12, 4, 1, 2, 7),
        new QueueHistory("q", [History]),
        new RegisterWorker("w1", ["a", "b"], Caps, 4),
        new RegisterWorker("w1", ["a"], Caps, 4, Instance: "1764064800.5-4242"),
        new WorkerHeartbeat("w1"),
        new WorkerHeartbeat("w1", Running: ["t1", "t2"]),
        new UnregisterWorker("w1", Replayed: true),
        new UnregisterWorker("w1"),
        new WorkerTaskStatus("w1", "t1", TaskProgress.Succeeded, 1.5, null),
        new WorkerTaskStatus("w1", "t1", TaskProgress.Received, null, null, Replayed: true),
        new TaskAssignedToWorker("w1", "t1", "q"),
        new TaskAssignedToWorker("w1", "t1", "q", new TaskOffer(5, 3.5, 2)),
        new WorkerTaskStatus("w1", "t1", TaskProgress.Failed, 1.5, "KeyError", Queue: "q"),
        new TaskReleasedFromWorker("w1", "t1", "q"),
        new WorkerHeard("w1", "q", 3),
        new GetWorkerStatus("w1"),
        new WorkerStatus("w1", true, ["a"], Caps, 4, 2, true, 123.5, "i-1"),
        new TaskAccepted("t1", "job", """{"x":1}""", 5, Caps, 1.0),
        new TaskAllocated("t1", "w1", 2, 3.0),
        new TaskAcknowledged("t1", "w1", 4.0),
        new TaskStarted("t1", "w1", 5.0),
        new TaskSucceeded("t1", "w1", 0.5, 6.0),
        new TaskFailed("t1", "w1", null, "Boom", 7.0),
        new TaskRequeued("t1", "w1", "ack_timeout", 8.0),
        new QueueEventBatch([new TaskAccepted("t1", "job", "{}", 5, null, 1.0), new TaskAllocated("t1", "w1", 1, 2.0),
            new TaskFailed("t1", "w1", 0.5, "Boom", 3.0), new TaskRequeued("t2", "w1", "worker_offline", 4.0)]),
        new QueueSnapshot([Snap], [Snap with { TaskId = "t2", Worker = null, Holders = ["w0", "w1"] }], ["t0"], 4, 12, 3, 2, 1, 0, 1, [History]),
        new WorkerRegistered("w1", ["a"], Caps, 2),
        new WorkerRegistered("w1", ["a"], Caps, 2, "i-2"),
        new WorkerIncarnationStarted("w1"),
        new WorkerUnregistered("w1"),
    }.Select(m => new[] { m });

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_round_trips_through_the_bound_serializer(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<AllocatorSerializer>(serializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var copy = Sys.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, manifest);
        Assert.IsType(message.GetType(), copy);
        // Records holding collections compare them by reference; their JSON shows every value.
        Assert.Equal(JsonSerializer.Serialize(message, message.GetType()), JsonSerializer.Serialize(copy, copy.GetType()));
    }

    [Fact]
    public void Every_protocol_type_has_a_manifest_and_a_round_trip_case()
    {
        var protocol = typeof(IAllocatorProtocol).Assembly.GetTypes()
            .Where(t => typeof(IAllocatorProtocol).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
            .ToHashSet();
        Assert.Equal(protocol.OrderBy(t => t.Name), AllocatorSerializer.Manifests.Keys.OrderBy(t => t.Name));
        Assert.Equal(protocol.OrderBy(t => t.Name), Messages().Select(m => m[0].GetType()).Distinct().OrderBy(t => t.Name));
    }
}
