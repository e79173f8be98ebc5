using System.Text.Json;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Parses the JSON of the <c>metrics</c> channel (SPEC §4.1) into <see cref="IMetricsCommand"/>s. Unknown fields
/// are skipped; a missing required field, a wrong type or an out-of-range value rejects the message with a
/// reason. Reads the UTF-8 bytes in one forward pass without building a document.
/// </summary>
public static class MetricsMessageParser
{
    /// <summary>Longest accepted name (task, queue, channel, ...): label values must stay small.</summary>
    public const int MaxNameLength = 256;

    /// <summary>Parses one payload.</summary>
    public static ParseResult<IMetricsCommand> Parse(ReadOnlySpan<byte> payload)
    {
        var fields = new Fields();
        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 32 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return Reject(RejectionReason.NotAnObject, "the payload is not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var error = ReadField(ref reader, ref fields);
                if (error is not null) return error.Value;
            }
            if (reader.Read())
                return Reject(RejectionReason.InvalidJson, "trailing data after the JSON object");
        }
        catch (JsonException e)
        {
            return Reject(RejectionReason.InvalidJson, $"not valid JSON ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader reports invalid UTF-8 inside a string this way.
            return Reject(RejectionReason.InvalidJson, $"not valid UTF-8 JSON ({e.Message})");
        }
        return Build(in fields);
    }

    private static ParseResult<IMetricsCommand> Build(in Fields f)
    {
        switch (f.Type)
        {
            case null:
                return Reject(RejectionReason.MissingField, "type is missing");
            case "task_execution":
                if ((Missing(f.TaskName, "task_name") ?? Missing(f.Queue, "queue") ?? Missing(f.Status, "status"))
                    is { } missing) return missing;
                if (f.Duration is not { } duration) return Reject(RejectionReason.MissingField, "duration is missing");
                if (WireLimits.Duration("duration", duration) is { } badDuration)
                    return Reject(RejectionReason.OutOfRange, badDuration);
                TaskOutcome outcome;
                switch (f.Status)
                {
                    case "success": outcome = TaskOutcome.Success; break;
                    case "failure": outcome = TaskOutcome.Failure; break;
                    default: return Reject(RejectionReason.OutOfRange, "status is neither 'success' nor 'failure'");
                }
                if (outcome == TaskOutcome.Failure && Missing(f.Exception, "exception") is { } noException)
                    return noException;
                return Accept(new TrackTaskExecution(f.TaskName!, f.Queue!, duration, outcome,
                    outcome == TaskOutcome.Failure ? f.Exception : null), "task_execution", f.PublishedAt);
            case "queue_length":
                if (Missing(f.Queue, "queue") is { } noQueue) return noQueue;
                if (f.Length is not { } length) return Reject(RejectionReason.MissingField, "length is missing");
                if (length < 0) return Reject(RejectionReason.OutOfRange, "length is negative");
                return Accept(new UpdateQueueLength(f.Queue!, length), "queue_length", f.PublishedAt);
            case "pubsub_message":
                if ((Missing(f.Channel, "channel") ?? Missing(f.MessageType, "message_type")) is { } noName)
                    return noName;
                if (f.Latency is not { } latency) return Reject(RejectionReason.MissingField, "latency is missing");
                if (WireLimits.Duration("latency", latency) is { } badLatency)
                    return Reject(RejectionReason.OutOfRange, badLatency);
                return Accept(new TrackPubSubMessage(f.Channel!, f.MessageType!, latency), "pubsub_message",
                    f.PublishedAt);
            default:
                return Reject(RejectionReason.UnknownType, $"type '{Truncate(f.Type)}' is not a metrics message type");
        }
    }

    private static ParseResult<IMetricsCommand>? ReadField(ref Utf8JsonReader reader, ref Fields f)
    {
        if (reader.ValueTextEquals("type"u8)) return ReadName(ref reader, "type", ref f.Type);
        if (reader.ValueTextEquals("task_name"u8)) return ReadName(ref reader, "task_name", ref f.TaskName);
        if (reader.ValueTextEquals("queue"u8)) return ReadName(ref reader, "queue", ref f.Queue);
        if (reader.ValueTextEquals("status"u8)) return ReadName(ref reader, "status", ref f.Status);
        if (reader.ValueTextEquals("exception"u8)) return ReadName(ref reader, "exception", ref f.Exception, nullable: true);
        if (reader.ValueTextEquals("channel"u8)) return ReadName(ref reader, "channel", ref f.Channel);
        if (reader.ValueTextEquals("message_type"u8)) return ReadName(ref reader, "message_type", ref f.MessageType);
        if (reader.ValueTextEquals("duration"u8)) return ReadNumber(ref reader, "duration", ref f.Duration);
        if (reader.ValueTextEquals("latency"u8)) return ReadNumber(ref reader, "latency", ref f.Latency);
        if (reader.ValueTextEquals("published_at"u8)) return ReadNumber(ref reader, "published_at", ref f.PublishedAt, nullable: true);
        if (reader.ValueTextEquals("length"u8)) return ReadInteger(ref reader, "length", ref f.Length);
        // Unknown field: skipped, for forward compatibility.
        reader.Read();
        reader.Skip();
        return null;
    }

    private static ParseResult<IMetricsCommand>? ReadName(
        ref Utf8JsonReader reader, string field, ref string? target, bool nullable = false)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null && nullable)
        {
            target = null;
            return null;
        }
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return Reject(RejectionReason.WrongType, $"{field} is not a string");
        }
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (length > MaxNameLength * 6) // escaped text is longer than what it stands for; check again after
            return Reject(RejectionReason.OutOfRange, $"{field} is longer than {MaxNameLength} characters");
        var value = reader.GetString()!;
        if (value.Length == 0) return Reject(RejectionReason.OutOfRange, $"{field} is empty");
        if (value.Length > MaxNameLength)
            return Reject(RejectionReason.OutOfRange, $"{field} is longer than {MaxNameLength} characters");
        target = value;
        return null;
    }

    private static ParseResult<IMetricsCommand>? ReadNumber(
        ref Utf8JsonReader reader, string field, ref double? target, bool nullable = false)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null && nullable)
        {
            target = null;
            return null;
        }
        if (reader.TokenType != JsonTokenType.Number)
        {
            reader.Skip();
            return Reject(RejectionReason.WrongType, $"{field} is not a number");
        }
        if (!reader.TryGetDouble(out var value) || !double.IsFinite(value))
            return Reject(RejectionReason.OutOfRange, $"{field} is not a finite number");
        target = value;
        return null;
    }

    private static ParseResult<IMetricsCommand>? ReadInteger(ref Utf8JsonReader reader, string field, ref long? target)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.Number)
        {
            reader.Skip();
            return Reject(RejectionReason.WrongType, $"{field} is not a number");
        }
        if (reader.TryGetInt64(out var value))
        {
            // Bounded as in the fraction form below: a gauge holds a double, exact only up to 2^53.
            if (value is > WireLimits.MaxWholeCount or < -WireLimits.MaxWholeCount)
                return Reject(RejectionReason.OutOfRange, $"{field} is too large");
            target = value;
            return null;
        }
        // 42.0 is the integer 42 in JSON's number model.
        if (!reader.TryGetDouble(out var d) || !double.IsFinite(d) || Math.Floor(d) != d)
            return Reject(RejectionReason.WrongType, $"{field} is not a whole number");
        if (WireLimits.Count(field, Math.Abs(d)) is { } tooLarge) return Reject(RejectionReason.OutOfRange, tooLarge);
        target = (long)d;
        return null;
    }

    private static ParseResult<IMetricsCommand>? Missing(string? value, string field) =>
        value is null ? Reject(RejectionReason.MissingField, $"{field} is missing") : null;

    private static ParseResult<IMetricsCommand> Accept(IMetricsCommand command, string type, double? publishedAt) =>
        ParseResult<IMetricsCommand>.Accepted(command, type, publishedAt);

    private static ParseResult<IMetricsCommand> Reject(RejectionReason reason, string detail) =>
        ParseResult<IMetricsCommand>.Rejected(reason, detail);

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

    // The fields of every metrics message type; which are required depends on the type, known only at the end.
    private struct Fields
    {
        public string? Type, TaskName, Queue, Status, Exception, Channel, MessageType;
        public double? Duration, Latency, PublishedAt;
        public long? Length;
    }
}
