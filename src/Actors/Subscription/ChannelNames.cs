using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Subscription;

/// <summary>
/// The channel names of wire format version 1 (SPEC §4.1), each behind the configured prefix, and the reverse
/// mapping from a channel a message arrived on to its <see cref="ChannelKind"/>.
/// </summary>
/// <param name="Prefix">The <c>ALLOCATOR_CHANNEL_PREFIX</c>; empty by default.</param>
public sealed record ChannelNames(string Prefix)
{
    /// <summary>The <c>metrics</c> channel.</summary>
    public string Metrics => Prefix + "metrics";

    /// <summary>The pattern of the producers' task channels, <c>tasks:*</c>, which also matches the task
    /// streams of the durable intake (a stream has the name of its queue's channel).</summary>
    public string TasksPattern => Prefix + "tasks:*";

    /// <summary>The task channel, and task stream, of <paramref name="queue"/>.</summary>
    public string Tasks(string queue) => Prefix + TasksInfix + queue;

    /// <summary>The queue a task channel or stream is for (the caller checked it is one: <see cref="Classify"/>
    /// says <see cref="ChannelKind.Tasks"/>).</summary>
    public string QueueOf(string tasksChannel) => tasksChannel[(Prefix.Length + TasksInfix.Length)..];

    private const string TasksInfix = "tasks:";

    /// <summary>The <c>workers:control</c> channel.</summary>
    public string WorkersControl => Prefix + "workers:control";

    /// <summary>The <c>task-status</c> channel.</summary>
    public string TaskStatus => Prefix + "task-status";

    /// <summary>The channel a worker receives its assignments on.</summary>
    public string Worker(string worker) => Prefix + "worker:" + worker;

    /// <summary>The kind of an inbound channel, or null for a channel the node does not serve.</summary>
    public ChannelKind? Classify(string channel)
    {
        if (!channel.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var name = channel.AsSpan(Prefix.Length);
        if (name.SequenceEqual("metrics")) return ChannelKind.Metrics;
        if (name.SequenceEqual("workers:control")) return ChannelKind.WorkersControl;
        if (name.SequenceEqual("task-status")) return ChannelKind.TaskStatus;
        if (name.StartsWith(TasksInfix) && name.Length > TasksInfix.Length) return ChannelKind.Tasks;
        return null;
    }
}
