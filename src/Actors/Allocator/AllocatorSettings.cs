using CeleryActors.Actors.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>Settings of the allocator (SPEC §4, §4.1).</summary>
/// <param name="Channels">Channel names behind <c>ALLOCATOR_CHANNEL_PREFIX</c>.</param>
/// <param name="MaxPayloadBytes">Larger pub/sub payloads are rejected unread (default 1 MiB).</param>
/// <param name="AckTimeout">An assignment not <c>received</c> within this is allocated again (default 30 s).</param>
/// <param name="WorkerTimeout">A worker silent this long is offline (default 15 s).</param>
/// <param name="SnapshotEvery">A queue entity saves a snapshot after at least this many events (default 10,000:
/// replaying that many takes some tens of milliseconds), and after no fewer events than the snapshot holds tasks
/// (the whole queue and the ids of up to 100,000 finished tasks): so writing snapshots costs at most about one
/// task's copy per event however long the queue grows, and a recovery reads at most about three times the queue.</param>
public sealed record AllocatorSettings(
    ChannelNames Channels,
    int MaxPayloadBytes,
    TimeSpan AckTimeout,
    TimeSpan WorkerTimeout,
    int SnapshotEvery = 10_000)
{
    /// <summary>The Redis set naming every queue the allocator has seen (per channel prefix): the node wakes
    /// them at start and lists them for <c>/api/queues</c>.</summary>
    public string QueuesKey => "celeryactors:allocator:" + Channels.Prefix + "queues";

    /// <summary>The Redis set naming every worker that registered (per channel prefix).</summary>
    public string WorkersKey => "celeryactors:allocator:" + Channels.Prefix + "workers";

    /// <summary>How often entities check their clocks (ack timeouts, worker silence): a quarter of the shorter
    /// timeout, at most one second, so a timeout fires at most that late.</summary>
    public TimeSpan SweepInterval
    {
        get
        {
            var quarter = TimeSpan.FromTicks(Math.Min(AckTimeout.Ticks, WorkerTimeout.Ticks) / 4);
            return quarter > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1)
                : quarter < TimeSpan.FromMilliseconds(20) ? TimeSpan.FromMilliseconds(20) : quarter;
        }
    }

    /// <summary>How far back a node takes the allocator's pub/sub messages again when the nodes that take them
    /// change (<see cref="AllocatorSubscriptionActor"/>): longer than the time from a node's death to its removal
    /// (6.5-9 s measured), with room for a slow removal.</summary>
    public TimeSpan ReplayWindow { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Bytes of recent pub/sub messages a node keeps for that (<c>ALLOCATOR_REPLAY_BYTES</c>, default
    /// 512 MiB): the whole <see cref="ReplayWindow"/> at 20,000 tasks/s of 1 KB (about 440 MB with the overhead of
    /// each entry). At a higher rate or with larger tasks the window kept is shorter.</summary>
    public long ReplayBudgetBytes { get; init; } = DefaultReplayBudgetBytes;

    /// <summary>The default of <see cref="ReplayBudgetBytes"/>.</summary>
    public const long DefaultReplayBudgetBytes = 512L * 1024 * 1024;

    /// <summary>Most tasks one queue holds waiting (<c>ALLOCATOR_MAX_PENDING</c>); beyond, a task is refused and
    /// counted (<c>reason="queue_full"</c>), never dropped silently.</summary>
    public int MaxPending { get; init; } = 1_000_000;

    /// <summary>Most queues the allocator keeps (<c>ALLOCATOR_MAX_QUEUES</c>), counted in <see cref="QueuesKey"/>
    /// for the whole cluster; a task for a new queue beyond is refused and counted
    /// (<c>reason="too_many_queues"</c>), and nothing of that queue is stored.</summary>
    public int MaxQueues { get; init; } = 10_000;

    /// <summary>How long an entity that holds nothing (a worker that is not registered or is offline, a queue
    /// refused by <see cref="MaxQueues"/>) stays without messages before it passivates.</summary>
    public TimeSpan IdleUnregistered { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Bytes of messages heard and not handled yet the allocator's subscriber holds (<c>MAX_BUFFERED_BYTES</c>);
    /// past them messages are dropped and counted.</summary>
    public long MaxBufferedBytes { get; init; } = PubSubBudget.DefaultBytes;

    /// <summary>The consumer group every node reads the task streams with (the durable intake).</summary>
    public const string StreamGroup = "celery-actors";

    /// <summary>How long a stream entry may stay unacknowledged (its node died, its queue was full or restarting)
    /// before a node claims it and submits it again; half of it is the interval of the claims.</summary>
    public TimeSpan StreamClaimIdle { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest the intake waits before reading the streams again while they stay empty (it starts at
    /// 1 ms after a read that brought entries and doubles).</summary>
    public TimeSpan StreamPollInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How often the intake looks for task streams it does not read yet.</summary>
    public TimeSpan StreamDiscoverInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Most events in one journal entry of a queue (its group commit).</summary>
    public int MaxBatchEvents { get; init; } = 10_000;

    /// <summary>Most bytes (estimated from the tasks' data) in one journal entry of a queue: well under Redis's
    /// bulk limit (<c>proto-max-bulk-len</c>, 512 MB by default, and often set lower).</summary>
    public long MaxBatchBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>How often an online worker repeats to its queues that it serves them: a queue whose node died
    /// starts again elsewhere knowing no worker, and learns them within this interval.</summary>
    public TimeSpan AnnounceInterval => TimeSpan.FromMilliseconds(500);

    /// <summary>Now, as Unix seconds with fractions (the wire's time unit).</summary>
    public static double Now() => WireLimits.Now();
}

/// <summary>Registry key of the queue entities' shard region.</summary>
public sealed class QueueRegion;

/// <summary>Registry key of the worker entities' shard region.</summary>
public sealed class WorkerRegion;
