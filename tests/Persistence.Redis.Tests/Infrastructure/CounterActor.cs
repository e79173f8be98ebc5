using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace CeleryActors.Persistence.Redis.Tests.Infrastructure;

/// <summary>Asks the counter to append number <paramref name="N"/>; appending is idempotent, so a client may resend.</summary>
public sealed record Append(int N);

public sealed record Appended(int N, long SequenceNr);

public sealed record GetState;

public sealed record CounterState(IReadOnlyList<int> Numbers, long LastSequenceNr);

/// <summary>Published on the event stream when a persist failed or was rejected, so tests can tell which.</summary>
public sealed record PersistOutcome(string Kind, long SequenceNr, Exception Cause);

/// <summary>
/// A persistent actor for the recovery and fault tests: it appends numbers in order, one Persist each, and
/// snapshots every <c>snapshotEvery</c> events (0: never).
/// </summary>
public sealed class CounterActor : ReceivePersistentActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private List<int> _numbers = [];

    public CounterActor(string persistenceId, int snapshotEvery = 0)
    {
        PersistenceId = persistenceId;
        Recover<SnapshotOffer>(o => _numbers = [.. (int[])o.Snapshot]);
        Recover<int>(n => _numbers.Add(n));
        Command<Append>(a =>
        {
            // Already appended (a resend after a lost reply): just confirm it.
            if (a.N <= _numbers.Count)
            {
                Sender.Tell(new Appended(a.N, LastSequenceNr));
                return;
            }
            if (a.N != _numbers.Count + 1) return; // out of order: the client will resend in order
            Persist(a.N, n =>
            {
                _numbers.Add(n);
                Sender.Tell(new Appended(n, LastSequenceNr));
                if (snapshotEvery > 0 && LastSequenceNr % snapshotEvery == 0) SaveSnapshot(_numbers.ToArray());
            });
        });
        Command<GetState>(_ => Sender.Tell(new CounterState(_numbers.ToArray(), LastSequenceNr)));
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => _log.Warning("Snapshot failed: {0}", f.Cause.Message));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId, int snapshotEvery = 0) =>
        Akka.Actor.Props.Create(() => new CounterActor(persistenceId, snapshotEvery));

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Context.System.EventStream.Publish(new PersistOutcome("failure", sequenceNr, cause));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        Context.System.EventStream.Publish(new PersistOutcome("rejected", sequenceNr, cause));
        base.OnPersistRejected(cause, @event, sequenceNr);
    }
}
