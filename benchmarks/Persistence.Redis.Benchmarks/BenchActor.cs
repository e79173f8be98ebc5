using Akka.Actor;
using Akka.Persistence;

namespace CeleryActors.Persistence.Redis.Benchmarks;

/// <summary>
/// Prepares a run: the next <c>Count</c> commands (plain longs, one event each) are persisted with PersistAsync or
/// with Persist, and <c>ReportTo</c> hears <see cref="Done"/> after the last.
/// </summary>
public sealed record Run(int Count, bool Async, IActorRef ReportTo);

public sealed record Done(string PersistenceId, long LastSequenceNr);

public sealed record Recovered(string PersistenceId, long LastSequenceNr, long EventsReplayed, bool FromSnapshot);

/// <summary>
/// Like the TCK's perf actor, it throws if it sees an event out of order, while persisting or recovering, so the
/// figures also check ordering. It snapshots every <c>snapshotEvery</c> events when asked to.
/// </summary>
public sealed class BenchActor : ReceivePersistentActor
{
    private readonly bool _useSnapshots;
    private long _state;
    private (long Last, Run Run) _run;
    private long _replayed;
    private bool _fromSnapshot;

    public BenchActor(string persistenceId, bool useSnapshots, IActorRef? reportRecovery)
    {
        PersistenceId = persistenceId;
        _useSnapshots = useSnapshots;
        Recover<SnapshotOffer>(o =>
        {
            _state = (long)o.Snapshot;
            _fromSnapshot = true;
        });
        Recover<long>(Apply);
        Recover<RecoveryCompleted>(_ =>
            reportRecovery?.Tell(new Recovered(PersistenceId, LastSequenceNr, _replayed, _fromSnapshot)));
        Command<Run>(run => _run = (_state + run.Count, run));
        // One command, one event: with Persist the next command waits for this event's round trip.
        Command<long>(value =>
        {
            if (_run.Run.Async) PersistAsync(value, Persisted);
            else Persist(value, Persisted);
        });
    }

    public override string PersistenceId { get; }

    public override Recovery Recovery =>
        _useSnapshots ? Recovery.Default : new Recovery(SnapshotSelectionCriteria.None);

    public static Props Props(string persistenceId, bool useSnapshots = false, IActorRef? reportRecovery = null) =>
        Akka.Actor.Props.Create(() => new BenchActor(persistenceId, useSnapshots, reportRecovery));

    private void Apply(long value)
    {
        if (value != _state + 1) throw new InvalidOperationException($"expected {_state + 1}, got {value}");
        _state = value;
        _replayed++;
    }

    private void Persisted(long value)
    {
        if (value != _state + 1) throw new InvalidOperationException($"persisted {value} after {_state}");
        _state = value;
        if (value == _run.Last) _run.Run.ReportTo.Tell(new Done(PersistenceId, LastSequenceNr));
    }
}
