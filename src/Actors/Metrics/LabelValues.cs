using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Metrics;

/// <summary>The snake_case label values of the project's enums, computed once (they are a contract).</summary>
public static class LabelValues
{
    private static readonly string[] Kinds = ["metrics", "tasks", "workers_control", "task_status", "celery_events"];

    private static readonly string[] Reasons =
        ["too_large", "invalid_json", "not_an_object", "missing_field", "wrong_type", "out_of_range", "unknown_type",
         "queue_full", "unknown_worker", "too_many_queues"];

    /// <summary>The label value of a task name, queue or exception type the node could not learn.</summary>
    public const string Unknown = "unknown";

    /// <summary>The <c>channel_kind</c> label value of <paramref name="kind"/>.</summary>
    public static string Of(ChannelKind kind) => Kinds[(int)kind];

    /// <summary>The <c>reason</c> label value of <paramref name="reason"/>.</summary>
    public static string Of(RejectionReason reason) => Reasons[(int)reason];
}
