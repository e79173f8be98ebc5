using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using CeleryActors.Actors.Metrics;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Celery;

/// <summary>The events of one pub/sub message, and the events of it that had to be rejected.</summary>
/// <param name="Events">Decoded events, in the order they were sent.</param>
/// <param name="Rejections">Reasons for events (or the whole message) that could not be decoded.</param>
public sealed record CeleryEventBatch(
    IReadOnlyList<ICeleryEvent> Events,
    IReadOnlyList<(RejectionReason Reason, string Detail)> Rejections);

/// <summary>
/// Decodes a message of Celery's event exchange as kombu publishes it on Redis: a JSON envelope whose
/// <c>body</c> is (base64 of) JSON, either one event object or, on <c>task.multi</c>, a list of them. Unknown
/// event types and fields are skipped; an event without the fields its type needs is rejected on its own while
/// the others of its batch are kept.
/// </summary>
public static class CeleryEventParser
{
    /// <summary>Decodes one message.</summary>
    public static CeleryEventBatch Parse(ReadOnlySpan<byte> envelope)
    {
        byte[]? rented = null;
        try
        {
            if (!ReadEnvelope(envelope, out var body, out var base64, out var error))
                return Failed(error.Reason, error.Detail);
            var json = body;
            if (base64)
            {
                rented = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(body.Length));
                if (Base64.DecodeFromUtf8(body, rented, out _, out var written) != OperationStatus.Done)
                    return Failed(RejectionReason.InvalidJson, "body is not valid base64");
                json = rented.AsSpan(0, written);
            }
            return ReadBody(json);
        }
        catch (JsonException e)
        {
            return Failed(RejectionReason.InvalidJson, $"not valid JSON ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            return Failed(RejectionReason.InvalidJson, $"not valid UTF-8 JSON ({e.Message})");
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The exception type in a Python repr such as <c>PaymentDeclined('card 4242')</c>.</summary>
    public static string ExceptionType(string? repr)
    {
        if (string.IsNullOrWhiteSpace(repr)) return LabelValues.Unknown;
        var paren = repr.IndexOf('(');
        var type = (paren < 0 ? repr : repr[..paren]).Trim();
        // A module-qualified name ("app.PaymentDeclined") keeps only the class, as the repr would.
        var dot = type.LastIndexOf('.');
        if (dot >= 0) type = type[(dot + 1)..];
        return type.Length is > 0 and <= MetricsNameLimit && !type.Contains(' ') ? type : LabelValues.Unknown;
    }

    private const int MetricsNameLimit = 256;

    // The body is read in place (a slice of the envelope), copied only when JSON escapes force a decode.
    private static bool ReadEnvelope(
        ReadOnlySpan<byte> envelope, out ReadOnlySpan<byte> body, out bool base64, out (RejectionReason Reason, string Detail) error)
    {
        body = default;
        base64 = false;
        error = default;
        var reader = new Utf8JsonReader(envelope, new JsonReaderOptions { MaxDepth = 32 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            error = (RejectionReason.NotAnObject, "the envelope is not a JSON object");
            return false;
        }
        var haveBody = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("body"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    error = (RejectionReason.WrongType, "body is not a string");
                    return false;
                }
                body = reader.ValueIsEscaped
                    ? System.Text.Encoding.UTF8.GetBytes(reader.GetString()!)
                    : envelope.Slice((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                haveBody = true;
            }
            else if (reader.ValueTextEquals("properties"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("body_encoding"u8))
                    {
                        reader.Read();
                        base64 = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("base64"u8);
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (!haveBody)
        {
            error = (RejectionReason.MissingField, "body is missing");
            return false;
        }
        return true;
    }

    private static CeleryEventBatch ReadBody(ReadOnlySpan<byte> json)
    {
        var events = new List<ICeleryEvent>();
        var rejections = new List<(RejectionReason, string)>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 32 });
        if (!reader.Read()) return Failed(RejectionReason.InvalidJson, "body is empty");
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            ReadEvent(ref reader, events, rejections);
        }
        else if (reader.TokenType == JsonTokenType.StartArray)
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType == JsonTokenType.StartObject) ReadEvent(ref reader, events, rejections);
                else
                {
                    reader.Skip();
                    rejections.Add((RejectionReason.NotAnObject, "an event in the list is not an object"));
                }
            }
        }
        else return Failed(RejectionReason.NotAnObject, "body is neither an event object nor a list of them");
        return new CeleryEventBatch(events, rejections);
    }

    private static void ReadEvent(ref Utf8JsonReader reader, List<ICeleryEvent> events, List<(RejectionReason, string)> rejections)
    {
        string? type = null, uuid = null, hostname = null, name = null, queue = null, exception = null;
        double? timestamp = null, runtime = null, activeNumber = null, processedNumber = null, eta = null;
        string? wrong = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8)) type = ReadString(ref reader, "type", ref wrong);
            else if (reader.ValueTextEquals("uuid"u8)) uuid = ReadString(ref reader, "uuid", ref wrong);
            else if (reader.ValueTextEquals("hostname"u8)) hostname = ReadString(ref reader, "hostname", ref wrong);
            else if (reader.ValueTextEquals("name"u8)) name = ReadString(ref reader, "name", ref wrong);
            else if (reader.ValueTextEquals("queue"u8)) queue = ReadString(ref reader, "queue", ref wrong);
            else if (reader.ValueTextEquals("exception"u8)) exception = ReadString(ref reader, "exception", ref wrong);
            else if (reader.ValueTextEquals("timestamp"u8)) timestamp = ReadNumber(ref reader, "timestamp", ref wrong);
            else if (reader.ValueTextEquals("runtime"u8)) runtime = ReadNumber(ref reader, "runtime", ref wrong);
            else if (reader.ValueTextEquals("active"u8)) activeNumber = ReadNumber(ref reader, "active", ref wrong);
            else if (reader.ValueTextEquals("processed"u8)) processedNumber = ReadNumber(ref reader, "processed", ref wrong);
            else if (reader.ValueTextEquals("eta"u8)) eta = ReadTime(ref reader);
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (wrong is not null)
        {
            rejections.Add((RejectionReason.WrongType, wrong));
            return;
        }
        if (type is null)
        {
            rejections.Add((RejectionReason.MissingField, "event type is missing"));
            return;
        }
        if (hostname is null)
        {
            rejections.Add((RejectionReason.MissingField, $"{type}: hostname is missing"));
            return;
        }
        // Names become labels, keys of the task memory and log text: bounded like the other wires' names.
        if (TooLong(("hostname", hostname), ("uuid", uuid), ("name", name), ("queue", queue)) is { } tooLong)
        {
            rejections.Add((RejectionReason.OutOfRange, $"{type}: {tooLong} is longer than {MetricsNameLimit} characters"));
            return;
        }
        // A count beyond 2^53 or with a fraction would saturate the cast and jump the lost-events counter.
        if ((Bad(activeNumber, "active") ?? Bad(processedNumber, "processed")) is { } badCount)
        {
            rejections.Add((RejectionReason.OutOfRange, $"{type}: {badCount}"));
            return;
        }
        long? active = (long?)activeNumber, processed = (long?)processedNumber;
        var time = timestamp ?? 0;
        if (type.StartsWith("worker-", StringComparison.Ordinal))
        {
            CeleryWorkerEventType? workerType = type switch
            {
                "worker-online" => CeleryWorkerEventType.Online,
                "worker-heartbeat" => CeleryWorkerEventType.Heartbeat,
                "worker-offline" => CeleryWorkerEventType.Offline,
                _ => null,
            };
            if (workerType is { } wt)
                events.Add(new CeleryWorkerEvent(wt, hostname, time, (int?)active, processed));
            return;
        }
        CeleryTaskEventType? taskType = type switch
        {
            "task-sent" => CeleryTaskEventType.Sent,
            "task-received" => CeleryTaskEventType.Received,
            "task-started" => CeleryTaskEventType.Started,
            "task-succeeded" => CeleryTaskEventType.Succeeded,
            "task-failed" => CeleryTaskEventType.Failed,
            "task-retried" => CeleryTaskEventType.Retried,
            "task-rejected" => CeleryTaskEventType.Rejected,
            "task-revoked" => CeleryTaskEventType.Revoked,
            _ => null,
        };
        if (taskType is not { } tt) return; // an event type this node does not use: skipped
        if (uuid is null)
        {
            rejections.Add((RejectionReason.MissingField, $"{type}: uuid is missing"));
            return;
        }
        if (runtime is { } seconds && WireLimits.Duration("runtime", seconds) is { } badRuntime)
        {
            rejections.Add((RejectionReason.OutOfRange, $"{type}: {badRuntime}"));
            return;
        }
        events.Add(new CeleryTaskEvent(tt, uuid, hostname, time, name, queue, runtime,
            tt is CeleryTaskEventType.Failed or CeleryTaskEventType.Retried ? ExceptionType(exception) : null, eta));
    }

    private static string? TooLong(params (string Field, string? Value)[] names) =>
        names.FirstOrDefault(n => n.Value is { Length: > MetricsNameLimit }).Field;

    private static string? Bad(double? count, string field) => count is { } n ? WireLimits.Count(field, n) : null;

    // Celery writes an ETA as ISO 8601 text, or null. Anything else only loses the ETA: the event itself is fine.
    private static double? ReadTime(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return null;
        }
        return DateTimeOffset.TryParse(reader.GetString(), System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal, out var at)
            ? at.ToUnixTimeMilliseconds() / 1000.0
            : null;
    }

    private static string? ReadString(ref Utf8JsonReader reader, string field, ref string? wrong)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String) return reader.GetString();
        if (reader.TokenType != JsonTokenType.Null) wrong ??= $"{field} is not a string";
        reader.Skip();
        return null;
    }

    private static double? ReadNumber(ref Utf8JsonReader reader, string field, ref string? wrong)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var value) && double.IsFinite(value))
            return value;
        if (reader.TokenType != JsonTokenType.Null) wrong ??= $"{field} is not a number";
        reader.Skip();
        return null;
    }

    private static CeleryEventBatch Failed(RejectionReason reason, string detail) => new([], [(reason, detail)]);
}
