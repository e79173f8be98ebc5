namespace CeleryActors.Actors.Allocator;

/// <summary>Why a task went back to its queue: the <c>reason</c> of <c>TaskRequeued</c>, of its history entry and
/// of the requeues counter's label. Stored in the journal: a value, once written, keeps its spelling.</summary>
public static class RequeueReason
{
    /// <summary>Not acknowledged within <c>ALLOCATOR_ACK_TIMEOUT</c>.</summary>
    public const string AckTimeout = "ack_timeout";

    /// <summary>Its worker was silent for <c>ALLOCATOR_WORKER_TIMEOUT</c>.</summary>
    public const string WorkerOffline = "worker_offline";

    /// <summary>Its worker registered as a new instance: the process restarted.</summary>
    public const string WorkerRestarted = "worker_restarted";

    /// <summary>Its worker registered again without this queue.</summary>
    public const string Reregistered = "reregistered";

    /// <summary>Its worker unregistered.</summary>
    public const string Unregistered = "unregistered";

    /// <summary>Its worker's heartbeat did not list it, an ack timeout after its allocation.</summary>
    public const string NotRunning = "not_running";
}

/// <summary>Why a worker's report changed nothing; the <c>reason</c> label of the ignored-reports counter.</summary>
public static class IgnoredReport
{
    /// <summary>The reporting worker never held an attempt of the task.</summary>
    public const string NotHolder = "not_holder";

    /// <summary>The task had already succeeded or failed (another attempt's report, or a repeat).</summary>
    public const string AlreadyFinished = "already_finished";

    /// <summary>The queue does not know the task at all.</summary>
    public const string UnknownTask = "unknown_task";
}

/// <summary>The <c>event</c> of a queue's history entries (<c>GET /api/queues/{q}/history</c>), one per kind of
/// stored event.</summary>
public static class HistoryEvent
{
    /// <summary>The task was accepted.</summary>
    public const string Accepted = "accepted";

    /// <summary>An attempt was allocated to a worker.</summary>
    public const string Allocated = "allocated";

    /// <summary>The holder acknowledged it (<c>received</c>).</summary>
    public const string Acknowledged = "acknowledged";

    /// <summary>The holder started it.</summary>
    public const string Started = "started";

    /// <summary>It succeeded.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>It failed.</summary>
    public const string Failed = "failed";

    /// <summary>It went back to the queue (<see cref="RequeueReason"/>).</summary>
    public const string Requeued = "requeued";
}
