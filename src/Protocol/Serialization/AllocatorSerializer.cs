using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Protocol.Serialization;

/// <summary>
/// Serializes every <see cref="IAllocatorProtocol"/> message (commands that cross nodes, replies, journal
/// events and snapshots) as System.Text.Json with a short, stable string manifest per type. The manifests are
/// written into the journal: renaming a type is fine, changing a manifest is not.
/// </summary>
public sealed class AllocatorSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer's identifier, unique in the actor system.</summary>
    public const int Id = 4401;

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Every serialized type and its manifest.</summary>
    public static readonly FrozenDictionary<Type, string> Manifests = new Dictionary<Type, string>
    {
        [typeof(SubmitTask)] = "submit-task",
        [typeof(TaskSubmitted)] = "task-submitted",
        [typeof(TaskRefused)] = "task-refused",
        [typeof(ReportTaskProgress)] = "report-progress",
        [typeof(WorkerServesQueue)] = "worker-serves",
        [typeof(WorkerLeftQueue)] = "worker-left",
        [typeof(GetQueueStats)] = "get-queue-stats",
        [typeof(GetQueueHistory)] = "get-queue-history",
        [typeof(QueueSynced)] = "queue-synced",
        [typeof(TasksWaiting)] = "tasks-waiting",
        [typeof(GrantSlots)] = "grant-slots",
        [typeof(SlotsReturned)] = "slots-returned",
        [typeof(WorkerRoomChanged)] = "worker-room",
        [typeof(ReturnTask)] = "return-task",
        [typeof(QueueStats)] = "queue-stats",
        [typeof(QueueHistory)] = "queue-history",
        [typeof(RegisterWorker)] = "register-worker",
        [typeof(WorkerHeartbeat)] = "worker-heartbeat",
        [typeof(UnregisterWorker)] = "unregister-worker",
        [typeof(WorkerTaskStatus)] = "worker-task-status",
        [typeof(TaskAssignedToWorker)] = "task-assigned",
        [typeof(TaskReleasedFromWorker)] = "task-released",
        [typeof(WorkerHeard)] = "worker-heard",
        [typeof(GetWorkerStatus)] = "get-worker-status",
        [typeof(WorkerStatus)] = "worker-status",
        [typeof(TaskAccepted)] = "e-accepted",
        [typeof(TaskAllocated)] = "e-allocated",
        [typeof(TaskAcknowledged)] = "e-acknowledged",
        [typeof(TaskStarted)] = "e-started",
        [typeof(TaskSucceeded)] = "e-succeeded",
        [typeof(TaskFailed)] = "e-failed",
        [typeof(TaskRequeued)] = "e-requeued",
        [typeof(QueueEventBatch)] = "e-batch",
        [typeof(QueueSnapshot)] = "s-queue",
        [typeof(WorkerRegistered)] = "e-worker-registered",
        [typeof(WorkerUnregistered)] = "e-worker-unregistered",
        [typeof(WorkerIncarnationStarted)] = "e-worker-incarnation",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, Type> Types =
        Manifests.ToDictionary(p => p.Value, p => p.Key).ToFrozenDictionary();

    /// <summary>Creates the serializer.</summary>
    public AllocatorSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new ArgumentException($"{o.GetType()} is not an allocator protocol message", nameof(o));

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest) =>
        Types.TryGetValue(manifest, out var type)
            ? JsonSerializer.Deserialize(bytes, type, Options)!
            : throw new System.Runtime.Serialization.SerializationException($"unknown allocator manifest '{manifest}'");
}
