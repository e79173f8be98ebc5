namespace CeleryActors.Messages.Subscription;

/// <summary>The kinds of channel the node listens on; the <c>channel_kind</c> label of rejections.</summary>
public enum ChannelKind
{
    /// <summary><c>P + metrics</c>: the seed's library API as JSON.</summary>
    Metrics,

    /// <summary><c>P + tasks:{queue}</c>: producers publishing tasks.</summary>
    Tasks,

    /// <summary><c>P + workers:control</c>: worker registration and heartbeats.</summary>
    WorkersControl,

    /// <summary><c>P + task-status</c>: workers reporting progress.</summary>
    TaskStatus,

    /// <summary>Celery's own event channels on the broker.</summary>
    CeleryEvents,
}

/// <summary>Why an inbound message was rejected; the <c>reason</c> label of rejections.</summary>
public enum RejectionReason
{
    /// <summary>Larger than the payload size limit; not read.</summary>
    TooLarge,

    /// <summary>Not UTF-8 JSON.</summary>
    InvalidJson,

    /// <summary>JSON, but not an object.</summary>
    NotAnObject,

    /// <summary>A required field is absent (or null).</summary>
    MissingField,

    /// <summary>A field has the wrong JSON type.</summary>
    WrongType,

    /// <summary>A field's value is outside its allowed range.</summary>
    OutOfRange,

    /// <summary>The <c>type</c> field names no known message type.</summary>
    UnknownType,

    /// <summary>A task for a queue that holds <c>ALLOCATOR_MAX_PENDING</c> waiting tasks already.</summary>
    QueueFull,

    /// <summary>A heartbeat or unregistration of a worker that is not registered.</summary>
    UnknownWorker,

    /// <summary>A task (or a worker's registration) for a new queue while the allocator holds
    /// <c>ALLOCATOR_MAX_QUEUES</c> queues already.</summary>
    TooManyQueues,
}

/// <summary>An inbound pub/sub message was rejected; it was logged and counted, and nothing else changed.</summary>
/// <param name="Kind">The kind of channel it came on.</param>
/// <param name="Channel">The channel name.</param>
/// <param name="Reason">Why it was rejected.</param>
/// <param name="Detail">A short human-readable explanation, e.g. the field at fault; never the payload.</param>
public sealed record MessageRejected(ChannelKind Kind, string Channel, RejectionReason Reason, string Detail);

/// <summary>An inbound pub/sub message was accepted and handed on.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="MessageType">The message's type (e.g. <c>task_execution</c>).</param>
/// <param name="LatencySeconds">Publish-to-handled latency, when the message carried its publish time.</param>
/// <param name="Broker">The Celery broker it came from, when the node watches several; null otherwise.</param>
public sealed record PubSubMessageHandled(string Channel, string MessageType, double? LatencySeconds, string? Broker = null);

/// <summary>The node's connection to Redis went up or down.</summary>
/// <param name="Connected">Whether Redis answers now.</param>
/// <param name="Detail">What was observed (e.g. the error), for logs.</param>
public sealed record RedisConnectionChanged(bool Connected, string Detail);

/// <summary>The subscription to the node's channels was (re)established after a loss of connection.</summary>
/// <param name="Channels">The channels or patterns subscribed.</param>
public sealed record ChannelsResubscribed(IReadOnlyList<string> Channels);

/// <summary>Pub/sub messages a subscriber dropped unread because the messages it had not handled yet filled its
/// buffer (<c>MAX_BUFFERED_BYTES</c>).</summary>
/// <param name="Subscription">Which subscriber: <see cref="Metrics"/>, <see cref="Allocator"/> or
/// <see cref="Celery"/>.</param>
/// <param name="Count">How many since it last told.</param>
/// <param name="Broker">The Celery broker whose events were dropped, when the node watches several; null otherwise.</param>
public sealed record PubSubMessagesDropped(string Subscription, long Count, string? Broker = null)
{
    /// <summary>The metrics channel's subscriber.</summary>
    public const string Metrics = "metrics";

    /// <summary>The allocator's subscriber (tasks, worker control, task status).</summary>
    public const string Allocator = "allocator";

    /// <summary>The Celery monitor's subscriber of the broker's events.</summary>
    public const string Celery = "celery_events";
}
