using System.Text;
using System.Text.Json;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Client;

/// <summary>
/// The wire's rules (SPEC §4.1) for the records an actor client sends: a client builds them itself, so nothing
/// has checked them the way the parsers check JSON. Checked at the gateway, before any entity sees them: an
/// entity must never persist an event it cannot apply (a registration with no queues, a priority of 10).
/// </summary>
public static class ClientCommandRules
{
    /// <summary>Why <paramref name="request"/> breaks a rule, or null when it keeps them all (or is a query).</summary>
    /// <param name="request">What the client sent.</param>
    /// <param name="maxPayloadBytes">The largest task data the wire takes.</param>
    public static WireError? Check(object request, int maxPayloadBytes) => request switch
    {
        PublishTask p => Name(p.Queue, "queue") ?? Name(p.TaskId, "task_id") ?? Name(p.TaskName, "task_name")
            ?? (p.Priority is < 0 or > 9 ? Range("priority is not within 0-9") : null)
            ?? Capabilities(p.Requires, "requires") ?? TaskData(p.TaskData, maxPayloadBytes) ?? PublishedAt(p.PublishedAt),
        RegisterWorker r => Name(r.Worker, "worker") ?? Names(r.Queues, "queues", WireFields.MaxCapabilities, allowEmpty: false)
            ?? (r.PoolSize is < 1 or > WorkerControlParser.MaxPoolSize
                ? Range($"pool_size is not within 1-{WorkerControlParser.MaxPoolSize}") : null)
            ?? Capabilities(r.Capabilities, "capabilities") ?? OptionalName(r.Instance, "instance"),
        WorkerHeartbeat h => Name(h.Worker, "worker")
            ?? (h.Running is { } running ? Names(running, "running", WorkerControlParser.MaxPoolSize, allowEmpty: true) : null),
        UnregisterWorker u => Name(u.Worker, "worker"),
        WorkerTaskStatus s => Name(s.Worker, "worker") ?? Name(s.TaskId, "task_id") ?? OptionalName(s.Queue, "queue")
            ?? OptionalName(s.Exception, "exception")
            ?? (Enum.IsDefined(s.Progress) ? null : Range("status is not one of received, started, succeeded, failed"))
            ?? (s.Runtime is { } runtime ? Duration("runtime", runtime) : null),
        TrackTaskExecution t => Name(t.TaskName, "task_name") ?? Name(t.Queue, "queue") ?? OptionalName(t.Exception, "exception")
            ?? (Enum.IsDefined(t.Outcome) ? null : Range("status is neither success nor failure"))
            ?? Duration("duration", t.DurationSeconds),
        UpdateQueueLength q => Name(q.Queue, "queue") ?? (q.Length < 0 ? Range("length is negative")
            : q.Length > WireLimits.MaxWholeCount ? Range("length is too large") : null),
        TrackPubSubMessage m => Name(m.Channel, "channel") ?? Name(m.MessageType, "message_type")
            ?? Duration("latency", m.LatencySeconds),
        _ => null,
    };

    private static WireError? Name(string? value, string field) =>
        string.IsNullOrEmpty(value) ? new WireError(RejectionReason.MissingField, $"{field} is missing or empty")
        : value.Length > WireFields.MaxNameLength ? Range($"{field} is longer than {WireFields.MaxNameLength} characters")
        : null;

    private static WireError? OptionalName(string? value, string field) => value is null ? null : Name(value, field);

    private static WireError? Names(IReadOnlyList<string>? values, string field, int max, bool allowEmpty)
    {
        if (values is null) return new WireError(RejectionReason.MissingField, $"{field} is missing");
        if (values.Count == 0 && !allowEmpty) return Range($"{field} is empty");
        if (values.Count > max) return Range($"{field} has more than {max} entries");
        foreach (var value in values)
            if (Name(value, $"an entry of {field}") is { } bad) return bad;
        return values.Distinct(StringComparer.Ordinal).Count() == values.Count ? null : Range($"{field} repeats an entry");
    }

    private static WireError? Capabilities(IReadOnlyDictionary<string, CapabilityValue>? values, string field)
    {
        if (values is null) return null;
        if (values.Count > WireFields.MaxCapabilities) return Range($"{field} has more than {WireFields.MaxCapabilities} entries");
        foreach (var (name, value) in values)
        {
            if (Name(name, $"a name in {field}") is { } bad) return bad;
            var valid = value.Number is { } n ? value.Text is null && double.IsFinite(n)
                : value.Text is { Length: <= WireFields.MaxNameLength };
            if (!valid) return new WireError(RejectionReason.WrongType, $"{field}.{name} is neither a finite number nor a short string");
        }
        return null;
    }

    // The worker gets task_data as it is: it must be JSON, and no larger than the wire would take.
    private static WireError? TaskData(string? json, int maxBytes)
    {
        if (json is null) return new WireError(RejectionReason.MissingField, "task_data is missing (use \"null\")");
        if (Encoding.UTF8.GetByteCount(json) > maxBytes) return new WireError(RejectionReason.TooLarge, "task_data is too large");
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json), new JsonReaderOptions { MaxDepth = 64 });
            reader.Read();
            reader.Skip();
            return reader.Read() ? new WireError(RejectionReason.InvalidJson, "task_data has trailing data") : null;
        }
        catch (JsonException e)
        {
            return new WireError(RejectionReason.InvalidJson, $"task_data is not JSON ({e.Message})");
        }
    }

    private static WireError? Duration(string field, double seconds) =>
        WireLimits.Duration(field, seconds) is { } bad ? Range(bad) : null;

    private static WireError? PublishedAt(double? at) =>
        at is { } value && WireLimits.PublishedAt(value, WireLimits.Now()) is { } bad ? Range(bad) : null;

    private static WireError? Range(string detail) => new WireError(RejectionReason.OutOfRange, detail);
}
