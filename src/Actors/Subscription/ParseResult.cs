using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Subscription;

/// <summary>What a wire parser made of one payload: a message, or the reason it was rejected.</summary>
/// <typeparam name="T">The message type.</typeparam>
public readonly record struct ParseResult<T> where T : class
{
    private ParseResult(T? message, string messageType, double? publishedAt, RejectionReason reason, string? detail)
    {
        Message = message;
        MessageType = messageType;
        PublishedAt = publishedAt;
        Reason = reason;
        Detail = detail;
    }

    /// <summary>The parsed message; null when rejected.</summary>
    public T? Message { get; }

    /// <summary>The wire type of the message (e.g. <c>task_execution</c>); empty when rejected.</summary>
    public string MessageType { get; }

    /// <summary>The publish time the producer stamped (Unix seconds), if any.</summary>
    public double? PublishedAt { get; }

    /// <summary>Why it was rejected (meaningful only when <see cref="IsRejected"/>).</summary>
    public RejectionReason Reason { get; }

    /// <summary>A short explanation of the rejection, naming the field at fault.</summary>
    public string? Detail { get; }

    /// <summary>True when the payload was rejected.</summary>
    public bool IsRejected => Message is null;

    /// <summary>An accepted message; rejected (out of range) instead when its <c>published_at</c> is implausible
    /// (<see cref="WireLimits.PublishedAt"/>): it would make the latency histogram lie for good.</summary>
    public static ParseResult<T> Accepted(T message, string messageType, double? publishedAt) =>
        publishedAt is { } at && WireLimits.PublishedAt(at, WireLimits.Now()) is { } implausible
            ? Rejected(RejectionReason.OutOfRange, implausible)
            : new(message, messageType, publishedAt, default, null);

    /// <summary>The same result seen as a result of a base type of <typeparamref name="T"/>.</summary>
    public ParseResult<TBase> As<TBase>() where TBase : class =>
        new(Message as TBase, MessageType, PublishedAt, Reason, Detail);

    /// <summary>A rejection.</summary>
    public static ParseResult<T> Rejected(RejectionReason reason, string detail) =>
        new(null, string.Empty, null, reason, detail);
}
