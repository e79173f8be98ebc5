using Akka.Actor;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>
/// Which entity a command taken from the wire is for. Tasks go to their queue; so does a status report that names
/// its queue, as a <see cref="ReportTaskProgress"/> the queue takes without the worker's entity between them (the
/// queue holds the task and tells the worker's entity what it needs: freed slots and that the worker spoke), so the
/// reports of a task cross no node when its queue lives where its messages are taken. Everything else goes to the
/// worker's entity, which routes a report that names no queue to the queue that holds its task.
/// </summary>
public static class WireRouting
{
    /// <summary>The shard type and entity id <paramref name="command"/> is for.</summary>
    public static (string TypeName, string Id) EntityOf(IPubSubCommand command) => command switch
    {
        SubmitTask task => (AllocatorMessageExtractor.QueueTypeName, task.Queue),
        WorkerTaskStatus { Queue: { } queue } => (AllocatorMessageExtractor.QueueTypeName, queue),
        _ => (AllocatorMessageExtractor.WorkerTypeName, ((IWithWorkerId)command).Worker),
    };

    /// <summary>Sends <paramref name="command"/> to its entity through its region.</summary>
    public static void Send(IPubSubCommand command, IActorRef queues, IActorRef workers)
    {
        switch (command)
        {
            case SubmitTask:
                queues.Tell(command, ActorRefs.NoSender);
                break;
            case WorkerTaskStatus { Queue: { } queue } status:
                queues.Tell(WorkerReports.ReportOf(status, queue, direct: true), ActorRefs.NoSender);
                break;
            default:
                workers.Tell(command, ActorRefs.NoSender);
                break;
        }
    }
}
